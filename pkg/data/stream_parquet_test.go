package data

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// The parquet shard folders are written by testdata/stream/make_shards.py (pyarrow):
// row i of a folder holds i + j/4 in element j, as writeShard's .npy rows do.
func streamFixture(name string) string { return filepath.Join("testdata", "stream", name) }

// The fixtures are what the tests need them to be: shards of several row groups whose
// pages hold a few rows, so that chunks start and end inside pages and row groups.
func TestParquetShardFixturesHaveSmallPagesAndSeveralRowGroups(t *testing.T) {
	f, pf, _, err := openParquetShard(filepath.Join(streamFixture("f32"), "shard-000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pages := 0
	for _, rg := range pf.RowGroups() {
		ps := rg.ColumnChunks()[0].Pages()
		for {
			p, err := ps.ReadPage()
			if err != nil {
				break
			}
			pages++
			parquet.Release(p)
		}
		ps.Close()
	}
	if len(pf.RowGroups()) != 3 || pages < 5 {
		t.Errorf("shard-000: %d row groups, %d data pages; rerun make_shards.py", len(pf.RowGroups()), pages)
	}
}

// A folder of parquet shards streams as the same rows in .npy shards do: the same
// chunks, positions and shuffled orders (the order is a function of the seed and the
// position, whatever the format), float16 converted exactly.
func TestParquetStreamYieldsWhatTheSameRowsInNPYShardsYield(t *testing.T) {
	for _, f := range []struct{ folder, npy string }{{"f32", "<f4"}, {"f16", "<f2"}} {
		for _, shuffle := range []bool{false, true} {
			opts := StreamOptions{BufferBytes: 3 * 4 * 3 * 4, Shuffle: shuffle, Seed: 9}
			pq, err := OpenStream(streamFixture(f.folder), opts)
			if err != nil {
				t.Fatal(err)
			}
			wantType := "list<float32>"
			if f.npy == "<f2" {
				wantType = "list<float16>"
			}
			if pq.Format() != "parquet" || pq.Rows() != 25 || pq.Dim() != 3 || pq.Shards() != 4 || pq.ChunkRows() != 4 || pq.Dtype() != wantType {
				t.Fatalf("%s: format %s, %d rows of %d in %d shards, chunks of %d, %s", f.folder, pq.Format(), pq.Rows(), pq.Dim(), pq.Shards(), pq.ChunkRows(), pq.Dtype())
			}
			np, err := OpenStream(shardFolder(t, f.npy, 3, 7, 1, 12, 5), opts)
			if err != nil {
				t.Fatal(err)
			}
			gotIDs, got := readAll(t, pq, Position{Epoch: 1}, 3)
			_, want := readAll(t, np, Position{Epoch: 1}, 3)
			if len(got) != len(want) {
				t.Fatalf("%s shuffle=%v: %d chunks, the .npy shards give %d", f.folder, shuffle, len(got), len(want))
			}
			for i := range want {
				if got[i].At != want[i].At || got[i].Next != want[i].Next || !slices.Equal(got[i].X, want[i].X) {
					t.Fatalf("%s shuffle=%v: chunk %d at %+v differs from the .npy shards' at %+v", f.folder, shuffle, i, got[i].At, want[i].At)
				}
			}
			for e := 1; e <= 3; e++ {
				if ids := slices.Sorted(slices.Values(gotIDs[e])); len(ids) != 25 || ids[0] != 0 || ids[24] != 24 {
					t.Errorf("%s epoch %d: ids %v, want 0..24 once each", f.folder, e, gotIDs[e])
				}
			}
		}
	}
}

// Restarted at any chunk's position, the parquet cursor (which otherwise continues
// where it stopped) reopens the row group and skips to the row: the chunks equal the
// uninterrupted stream's.
func TestParquetStreamRestartsFromEveryChunkPosition(t *testing.T) {
	for _, folder := range []string{"f32", "f16"} {
		s, err := OpenStream(streamFixture(folder), StreamOptions{BufferBytes: 3 * 5 * 3 * 4, Shuffle: true, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		_, all := readAll(t, s, Position{Epoch: 1}, 2)
		for i, c := range all {
			_, rest := readAll(t, s, c.At, 2)
			if len(rest) != len(all)-i {
				t.Fatalf("%s from %+v: %d chunks, want %d", folder, c.At, len(rest), len(all)-i)
			}
			for j := range rest {
				if w := all[i+j]; rest[j].At != w.At || !slices.Equal(rest[j].X, w.X) {
					t.Fatalf("%s from %+v: chunk %d differs from the uninterrupted stream's", folder, c.At, j)
				}
			}
		}
	}
}

// A pandas file (an index-free frame with a label column beside the vectors) streams
// its vectors; the label is not part of a streamed row.
func TestParquetStreamReadsAPandasFile(t *testing.T) {
	s, err := OpenStream(streamFixture("pandas"), StreamOptions{BufferBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := readAll(t, s, Position{Epoch: 1}, 1)
	if !slices.Equal(ids[1], []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("ids %v, want 0..5 in order", ids[1])
	}
}

// copyTo copies files into dir (under the names given).
func copyTo(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParquetStreamRefusesHostileShardsByName(t *testing.T) {
	f32 := func(i int) string {
		return filepath.Join(streamFixture("f32"), "shard-00"+string(rune('0'+i))+".parquet")
	}
	f16 := func(i int) string {
		return filepath.Join(streamFixture("f16"), "shard-00"+string(rune('0'+i))+".parquet")
	}
	cases := []struct {
		name   string
		files  map[string]string
		opts   StreamOptions
		wants  []string
		atRead bool // refused when the rows are read, not when the folder is opened
	}{
		{"npy and parquet shards", map[string]string{"a.parquet": f32(0), "b.npy": vecFixture("f4.npy")}, StreamOptions{},
			[]string{"both .npy (b.npy) and .parquet (a.parquet)", "allowed: one kind"}, false},
		{"no parquet shards", map[string]string{"b.npy": vecFixture("f4.npy")}, StreamOptions{Format: "parquet"},
			[]string{"no *.parquet shards"}, false},
		{"float32 and float16 shards", map[string]string{"a.parquet": f32(0), "b.parquet": f16(1)}, StreamOptions{},
			[]string{"b.parquet", `column "vec" is list<float16>`, "a.parquet's is list<float32>", "same element type", "allowed: list<float32> or list<float16>"}, false},
		{"different widths", map[string]string{"a.parquet": f32(0), "b.parquet": streamFixture("wide.parquet")}, StreamOptions{},
			[]string{"b.parquet", "4 features", "a.parquet has 3", "same width"}, false},
		{"empty shard", map[string]string{"a.parquet": f32(0), "b.parquet": streamFixture("empty.parquet")}, StreamOptions{},
			[]string{"b.parquet", "no rows"}, false},
		{"float64 column", map[string]string{"a.parquet": vecFixture("float64.parquet")}, StreamOptions{},
			[]string{"a.parquet", `"vec" is list<double>`, "allowed: list<float32> or list<float16>"}, false},
		{"two vector columns", map[string]string{"a.parquet": vecFixture("two_vectors.parquet")}, StreamOptions{},
			[]string{"a.parquet", "several list<float32> columns (a, b)", "dataset.column"}, false},
		{"column not there", map[string]string{"a.parquet": f32(0)}, StreamOptions{Column: "acts"},
			[]string{"a.parquet", `dataset.column "acts"`, "vec (list<float32>)"}, false},
		{"column renamed between shards", map[string]string{"a.parquet": f32(0), "b.parquet": streamFixture("renamed.parquet")}, StreamOptions{},
			[]string{"b.parquet", `the vectors are in column "acts"`, `earlier files in "vec"`, "dataset.column"}, false},
		{"empty data page v2", map[string]string{"a.parquet": streamFixture("emptypage.parquet")}, StreamOptions{},
			[]string{"a.parquet", "row group 0", "holds no values", "data_page_version"}, true},
		{"ragged vectors", map[string]string{"a.parquet": vecFixture("ragged.parquet")}, StreamOptions{},
			[]string{"a.parquet", "23 values in 6 rows", "different lengths, or nulls"}, false},
		{"null vector", map[string]string{"a.parquet": vecFixture("null.parquet")}, StreamOptions{},
			[]string{"a.parquet", "different lengths, or nulls"}, false},
		{"not parquet", map[string]string{"a.parquet": vecFixture("f4.npy")}, StreamOptions{},
			[]string{"a.parquet", "not a readable parquet file"}, false},
		{"buffer too small", map[string]string{"a.parquet": f32(0)}, StreamOptions{BufferBytes: 20},
			[]string{"buffer of 20 bytes", "allowed: at least 36 bytes"}, false},
		{"NaN", map[string]string{"a.parquet": vecFixture("nan.parquet")}, StreamOptions{},
			[]string{"a.parquet", `row 3, column "vec"`, "NaN", "finite"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTo(t, dir, c.files)
			if c.opts.BufferBytes == 0 {
				c.opts.BufferBytes = 1 << 10
			}
			s, err := OpenStream(dir, c.opts)
			if c.atRead {
				if err != nil {
					t.Fatal(err)
				}
				var r *Reader
				if r, err = s.Read(Position{Epoch: 1}, 1); err != nil {
					t.Fatal(err)
				}
				_, err = r.Next()
				r.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// Forged footers claiming more rows or values than the file holds are refused when the
// folder is opened, naming the file, before anything is sized by the claims; a claim of
// more values than the pages hold, when the row group is read.
func TestParquetStreamRefusesForgedFootersBeforeAllocating(t *testing.T) {
	src := filepath.Join("testdata", "matrix", "nullable_zstd_v2_dict.parquet")
	for _, c := range []struct {
		name   string
		edit   func(md *format.FileMetaData)
		want   string
		atRead bool
	}{
		{"rows and values 2^28", func(md *format.FileMetaData) {
			md.NumRows, md.RowGroups[0].NumRows = 1<<28, 1<<28
			md.RowGroups[0].Columns[0].MetaData.NumValues = 1 << 30
		}, "more than 1024 times its size", false},
		{"values claimed but not present", func(md *format.FileMetaData) {
			md.RowGroups[0].Columns[0].MetaData.NumValues = 4000
			md.NumRows, md.RowGroups[0].NumRows = 1000, 1000
		}, "the pages of a column chunk hold 400 values, the footer says 4000", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTo(t, dir, map[string]string{"forged.parquet": forgeFooter(t, src, c.edit)})
			var err error
			got := allocated(func() {
				var s *Stream
				if s, err = OpenStream(dir, StreamOptions{BufferBytes: 1 << 12}); err != nil || !c.atRead {
					return
				}
				var r *Reader
				if r, err = s.Read(Position{Epoch: 1}, 1); err == nil {
					_, err = r.Next()
					r.Close()
				}
			})
			if got > 2<<20 {
				t.Errorf("allocated %d MB before refusing", got>>20)
			}
			if err == nil || !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "forged.parquet") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrBadFormat naming forged.parquet and saying %q", err, c.want)
			}
		})
	}
}

// A parquet shard cut short after the stream opened is an error naming it when the
// reader reaches it, not rows of zeros.
func TestParquetShardTruncatedMidStreamIsAnErrorNamingIt(t *testing.T) {
	dir := t.TempDir()
	copyTo(t, dir, map[string]string{"a.parquet": filepath.Join(streamFixture("f32"), "shard-000.parquet"),
		"b.parquet": filepath.Join(streamFixture("f32"), "shard-002.parquet")})
	s, err := OpenStream(dir, StreamOptions{BufferBytes: 3 * 4 * 3 * 4})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "b.parquet")
	if err := os.Truncate(p, 300); err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(Position{Epoch: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		_, err := r.Next()
		if err == nil {
			continue
		}
		if errors.Is(err, ErrStreamExhausted) || !strings.Contains(err.Error(), "b.parquet") {
			t.Fatalf("err = %v, want an error naming b.parquet", err)
		}
		return
	}
}

// An empty data page v2 (pyarrow writes them with tiny pages) crashed the process in
// the pinned parquet-go; the loader refuses it by name before reading the page.
func TestLoadParquetRefusesAnEmptyDataPageV2ByNameInsteadOfCrashing(t *testing.T) {
	_, err := LoadParquet(streamFixture("emptypage.parquet"), ParquetOptions{})
	if err == nil || !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "emptypage.parquet") || !strings.Contains(err.Error(), "holds no values") {
		t.Errorf("err = %v, want ErrBadFormat naming emptypage.parquet and the empty page", err)
	}
}
