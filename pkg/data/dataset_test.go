package data

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedDir returns the shared datasets directory, skipping the test if absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "datasets")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Skipf("shared datasets not found at %s", dir)
	}
	return dir
}

func TestNames(t *testing.T) {
	if got, want := Names(), []string{"digits", "mnist", "fashion-mnist"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, n := range Names()[1:] {
		if canonicalMD5[n] == nil || defaultBaseURL[n] == "" {
			t.Errorf("%s has no checksums or no download URL", n)
		}
	}
}

func TestLoadUnknownName(t *testing.T) {
	for _, name := range []string{"", "MNIST", "cifar10"} {
		_, err := Load(name, t.TempDir())
		if !errors.Is(err, ErrUnknownDataset) {
			t.Errorf("Load(%q): err = %v, want ErrUnknownDataset", name, err)
			continue
		}
		for _, n := range Names() {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("Load(%q): error %q does not list %q", name, err, n)
			}
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SAERUN_DATA_DIR", dir)
	for _, d := range []string{dir, ""} { // "" means DefaultDir(), here $SAERUN_DATA_DIR
		_, err := Load("mnist", d)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load(mnist, %q): err = %v, want ErrNotFound", d, err)
		}
		want := filepath.Join(dir, "mnist", trainImagesFile+".gz")
		for _, s := range []string{want, "--data-dir", "SAERUN_DATA_DIR", "Download"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
	}
}

func TestLoadSynthetic(t *testing.T) {
	for _, gz := range []bool{true, false} {
		dir := t.TempDir()
		fx := newFixture(12, 5)
		fx.write(t, dir, "mnist", gz)
		ds, err := loadIDXDataset("mnist", dir, fx.sums)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		for _, c := range []struct {
			s *Set
			n int
		}{{ds.Train, 12}, {ds.Test, 5}} {
			s := c.s
			if s.N != c.n || s.Dim != 6 || s.Height != 3 || s.Width != 2 || len(s.X) != c.n*6 || len(s.Labels) != c.n {
				t.Fatalf("gz=%v: shape N=%d Dim=%d %dx%d, want %dx6 (3x2)", gz, s.N, s.Dim, s.Height, s.Width, c.n)
			}
			if s.Row(1)[0] != 6.0/255 || s.Labels[11%c.n] != int32(11%c.n%10) {
				t.Errorf("gz=%v: wrong content: row 1 %v, labels %v", gz, s.Row(1), s.Labels)
			}
		}
	}
}

func TestLoadBadFiles(t *testing.T) {
	good := newFixture(12, 5)
	tests := []struct {
		name    string
		file    string
		spoil   func(fx *fixture, file string) // changes fx.files[file] or fx.sums
		gz      bool
		wantErr error
	}{
		{"checksum mismatch", trainImagesFile, func(fx *fixture, f string) {
			b := slices.Clone(fx.files[f])
			b[len(b)-1] ^= 1
			fx.files[f] = b
		}, true, ErrChecksum},
		{"truncated data", testImagesFile, func(fx *fixture, f string) {
			fx.files[f] = fx.files[f][:len(fx.files[f])-3]
		}, false, ErrTruncated},
		{"truncated header", testLabelsFile, func(fx *fixture, f string) {
			fx.files[f] = fx.files[f][:6]
		}, true, ErrTruncated},
		{"bad magic", trainLabelsFile, func(fx *fixture, f string) {
			fx.files[f] = fx.files[trainImagesFile]
		}, true, ErrBadFormat},
		{"label count", testLabelsFile, func(fx *fixture, f string) {
			fx.files[f] = idxBytes([]int{4}, []byte{1, 2, 3, 4})
			fx.sums[f] = md5Hex(fx.files[f])
		}, true, ErrBadFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := fixture{files: maps.Clone(good.files), sums: maps.Clone(good.sums)}
			tt.spoil(&fx, tt.file)
			dir := t.TempDir()
			fx.write(t, dir, "mnist", tt.gz)
			_, err := loadIDXDataset("mnist", dir, good.sums)
			if tt.name == "label count" {
				_, err = loadIDXDataset("mnist", dir, fx.sums)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %q does not name %s", err, tt.file)
			}
		})
	}
}

func TestLoadTruncatedGzip(t *testing.T) {
	fx := newFixture(50, 5)
	dir := t.TempDir()
	fx.write(t, dir, "mnist", true)
	p := filepath.Join(dir, "mnist", trainImagesFile+".gz")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = loadIDXDataset("mnist", dir, fx.sums)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "Download") {
		t.Errorf("err = %v, want ErrTruncated naming %s and Download", err, p)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("SAERUN_DATA_DIR", "/some/where")
	if got := DefaultDir(); got != "/some/where" {
		t.Errorf("with SAERUN_DATA_DIR: DefaultDir() = %q", got)
	}

	t.Setenv("SAERUN_DATA_DIR", "")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "shared", "datasets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "repo"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(root, "repo"))
	if got := DefaultDir(); got != "../shared/datasets" {
		t.Errorf("beside shared/: DefaultDir() = %q, want ../shared/datasets", got)
	}

	t.Chdir(root)
	got := DefaultDir()
	if !strings.HasSuffix(got, filepath.Join("saerun", "datasets")) {
		t.Errorf("elsewhere: DefaultDir() = %q, want the user cache dir + saerun/datasets", got)
	}
}

func TestLoadRealIDX(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 110 MB of real data; skipped with -short")
	}
	dir := sharedDir(t)
	tests := []struct {
		name        string
		train, test [10]int
	}{
		{"mnist",
			[10]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
			[10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
		{"fashion-mnist",
			[10]int{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000},
			[10]int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := Load(tt.name, dir)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Name != tt.name {
				t.Errorf("Name = %q", ds.Name)
			}
			for _, c := range []struct {
				part   string
				s      *Set
				n      int
				counts [10]int
			}{{"train", ds.Train, 60000, tt.train}, {"test", ds.Test, 10000, tt.test}} {
				s := c.s
				if s.N != c.n || s.Dim != 784 || s.Height != 28 || s.Width != 28 || len(s.X) != c.n*784 || len(s.Labels) != c.n {
					t.Fatalf("%s: shape N=%d Dim=%d %dx%d, want %dx784 (28x28)", c.part, s.N, s.Dim, s.Height, s.Width, c.n)
				}
				if lo, hi := minMax(s.X); lo != 0 || hi != 1 {
					t.Errorf("%s: pixel range [%v, %v], want [0, 1]", c.part, lo, hi)
				}
				var counts [10]int
				for _, l := range s.Labels {
					if l > 9 {
						t.Fatalf("%s: label %d", c.part, l)
					}
					counts[l]++
				}
				if counts != c.counts {
					t.Errorf("%s: label counts %v, want %v", c.part, counts, c.counts)
				}
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	dir := sharedDir(b)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Load(name, dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
