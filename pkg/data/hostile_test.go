package data

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// copyFixture copies a vector fixture to dir/name.
func copyFixture(t *testing.T, fixture, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(vecFixture(fixture))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEmptyAndTruncatedVectorFilesAreRefusedByName: a 0-byte file, a file cut in the
// middle of its data or of its footer, is refused naming the file, for each loader.
func TestEmptyAndTruncatedVectorFilesAreRefusedByName(t *testing.T) {
	dir := t.TempDir()
	full, _ := os.ReadFile(vecFixture("pandas.parquet"))
	npy, _ := os.ReadFile(vecFixture("f4.npy"))
	cases := []struct {
		name string
		data []byte
		load func(string) error
	}{
		{"empty.parquet", nil, func(p string) error { _, err := LoadParquet(p, ParquetOptions{}); return err }},
		{"cut-footer.parquet", full[:len(full)-3], func(p string) error { _, err := LoadParquet(p, ParquetOptions{}); return err }},
		{"cut-data.parquet", append(append([]byte{}, full[:len(full)/3]...), full[len(full)/2:]...), func(p string) error { _, err := LoadParquet(p, ParquetOptions{}); return err }},
		{"magic-only.parquet", []byte("PAR1PAR1"), func(p string) error { _, err := LoadParquet(p, ParquetOptions{}); return err }},
		{"empty.npy", nil, func(p string) error { _, err := LoadNPY(p); return err }},
		{"header-only.npy", npy[:128], func(p string) error { _, err := LoadNPY(p); return err }},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := c.load(p)
		if err == nil {
			t.Errorf("%s loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.name) || !(errors.Is(err, ErrBadFormat) || errors.Is(err, ErrTruncated)) {
			t.Errorf("%s: error %v, want ErrBadFormat or ErrTruncated naming the file", c.name, err)
		}
	}
}

// TestFolderOfShardsOfDifferentWidthsIsRefusedNamingBoth: a folder whose second shard
// holds 5-value vectors after a first of 4 is refused, naming the shard, the row and
// the file that set the width.
func TestFolderOfShardsOfDifferentWidthsIsRefusedNamingBoth(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "folder/part-0.parquet", dir, "part-0.parquet")   // 4 wide
	copyFixture(t, "folder/_skipped.parquet", dir, "part-1.parquet") // 5 wide
	_, err := LoadParquet(dir, ParquetOptions{})
	if err == nil {
		t.Fatal("shards of widths 4 and 5 loaded as one set")
	}
	for _, w := range []string{"part-1.parquet", "row 0", "5 values, expected 4", "part-0.parquet"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestFolderWithAnEmptyOrForeignShardIsRefusedNamingIt: one good shard and a 0-byte
// or a non-parquet file named .parquet in the same folder: the bad one is named.
func TestFolderWithAnEmptyOrForeignShardIsRefusedNamingIt(t *testing.T) {
	for _, bad := range [][]byte{nil, []byte("run_id,epoch\na,1\n")} {
		dir := t.TempDir()
		copyFixture(t, "folder/part-0.parquet", dir, "part-0.parquet")
		if err := os.WriteFile(filepath.Join(dir, "part-1.parquet"), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadParquet(dir, ParquetOptions{})
		if err == nil || !strings.Contains(err.Error(), "part-1.parquet") || !errors.Is(err, ErrBadFormat) {
			t.Errorf("%d-byte foreign shard: error %v, want ErrBadFormat naming part-1.parquet", len(bad), err)
		}
	}
}

// TestNonUTF8PathsLoadAndAreShownEscaped: a file whose name is not valid UTF-8 loads,
// and errors about such a file show its name Go-quoted (one valid UTF-8 line).
func TestNonUTF8PathsLoadAndAreShownEscaped(t *testing.T) {
	dir := t.TempDir()
	name := "acts-\xff\xfe.parquet"
	p := copyFixture(t, "pandas.parquet", dir, name)
	s, err := LoadParquet(p, ParquetOptions{})
	if err != nil {
		t.Fatalf("a valid file with a non-UTF-8 name: %v", err)
	}
	if !utf8.ValidString(s.Source) || !strings.Contains(s.Source, `acts-\xff\xfe.parquet`) {
		t.Errorf("Source %q", s.Source)
	}
	q := copyFixture(t, "nan.parquet", dir, "nan-\xff.parquet")
	_, err = LoadParquet(q, ParquetOptions{})
	if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), `nan-\xff.parquet`) {
		t.Errorf("error %q: want valid UTF-8 naming nan-\\xff.parquet", err)
	}
	_, err = LoadNPY(filepath.Join(dir, "missing-\xff.npy"))
	if err == nil || !utf8.ValidString(err.Error()) || !errors.Is(err, ErrNotFound) {
		t.Errorf("missing non-UTF-8 file: %v", err)
	}
}
