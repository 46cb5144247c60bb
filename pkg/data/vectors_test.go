package data

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The fixtures are written by testdata/vectors/make_fixtures.py (pandas, pyarrow,
// numpy); their values are x[i, j] = i + j/8.
func vecFixture(name string) string { return filepath.Join("testdata", "vectors", name) }

// wantGrid checks that s holds rows rows of the fixtures' grid, of dim features.
func wantGrid(t *testing.T, s *Set, rows []int, dim int) {
	t.Helper()
	if s.N != len(rows) || s.Dim != dim || len(s.X) != len(rows)*dim || len(s.Labels) != len(rows) {
		t.Fatalf("shape N=%d Dim=%d len(X)=%d len(Labels)=%d, want %d×%d", s.N, s.Dim, len(s.X), len(s.Labels), len(rows), dim)
	}
	if s.Height != 0 || s.Width != 0 || s.IsImage() {
		t.Errorf("a vector set has image shape %d×%d", s.Height, s.Width)
	}
	for k, i := range rows {
		for j, v := range s.Row(k) {
			if want := float32(i) + float32(j)/8; v != want {
				t.Fatalf("row %d (file row %d) = %v, want element %d = %v", k, i, s.Row(k), j, want)
			}
		}
	}
}

func TestLoadParquetPandasFileFindsItsOnlyVectorColumnAndKeepsLabels(t *testing.T) {
	s, err := LoadParquet(vecFixture("pandas.parquet"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantGrid(t, s, []int{0, 1, 2, 3, 4, 5}, 4)
	if want := []int32{7, 3, 0, 9, 4, 5}; !slices.Equal(s.Labels, want) {
		t.Errorf("labels %v, want %v", s.Labels, want)
	}
}

func TestLoadParquetPlainV2PagesSeveralRowGroupsAndNullLabels(t *testing.T) {
	s, err := LoadParquet(vecFixture("plain_v2.parquet"), ParquetOptions{Column: "vec"})
	if err != nil {
		t.Fatal(err)
	}
	wantGrid(t, s, []int{0, 1, 2, 3, 4, 5}, 4)
	if want := []int32{1, NoLabel, 2, 3, NoLabel, 4}; !slices.Equal(s.Labels, want) {
		t.Errorf("labels %v, want %v (a null label is NoLabel, never 0)", s.Labels, want)
	}
}

func TestLoadParquetWhereKeepsMatchingRows(t *testing.T) {
	for _, c := range []struct {
		where map[string]any
		rows  []int
	}{
		{map[string]any{"run_id": "a"}, []int{0, 1, 4}},
		{map[string]any{"run_id": "b", "epoch": uint64(1)}, []int{2, 5}}, // YAML decodes integers as uint64
		{map[string]any{"epoch": 2.0}, []int{1, 3}},                      // and JSON as float64
		{map[string]any{"label": int64(9)}, []int{3}},
	} {
		s, err := LoadParquet(vecFixture("pandas.parquet"), ParquetOptions{Where: c.where})
		if err != nil {
			t.Fatalf("where %v: %v", c.where, err)
		}
		wantGrid(t, s, c.rows, 4)
	}
}

func TestLoadParquetFolderReadsItsFilesInNameOrder(t *testing.T) {
	s, err := LoadParquet(vecFixture("folder"), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantGrid(t, s, []int{0, 1, 2, 3, 4, 5}, 4) // _skipped.parquet (5 features) is left out
	for _, l := range s.Labels {
		if l != NoLabel {
			t.Fatalf("labels %v, want all NoLabel (no label column)", s.Labels)
		}
	}
}

// activationRow is results.ActivationRow's layout: the activations/ table this tool
// writes with parquet-go.
type activationRow struct {
	RunID           string    `parquet:"run_id,dict"`
	Epoch           int32     `parquet:"epoch"`
	Layer           string    `parquet:"layer,dict"`
	Sample          int32     `parquet:"sample"`
	ValidationIndex int32     `parquet:"validation_index"`
	Label           int32     `parquet:"label"`
	Activation      []float32 `parquet:"activation,list"`
}

func TestLoadParquetReadsOneRunEpochAndLayerOfAnActivationsTable(t *testing.T) {
	var rows []activationRow
	for _, run := range []string{"r1", "r2"} {
		for epoch := int32(1); epoch <= 2; epoch++ {
			for _, layer := range []string{"encoder.0", "decoder.0"} {
				for i := range int32(3) {
					v := float32(i) * 10
					if run == "r2" && epoch == 2 && layer == "encoder.0" {
						v = -float32(i) // the rows the test asks for
					}
					rows = append(rows, activationRow{RunID: run, Epoch: epoch, Layer: layer, Sample: i, ValidationIndex: i,
						Label: i + 1, Activation: []float32{v, v + 0.5}})
				}
			}
		}
	}
	path := filepath.Join(t.TempDir(), "r.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[activationRow](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err := LoadParquet(filepath.Dir(path), ParquetOptions{Where: map[string]any{"run_id": "r2", "epoch": 2, "layer": "encoder.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 0.5, -1, -0.5, -2, -1.5}; !slices.Equal(s.X, want) || s.Dim != 2 {
		t.Errorf("X = %v (dim %d), want %v", s.X, s.Dim, want)
	}
	if want := []int32{1, 2, 3}; !slices.Equal(s.Labels, want) {
		t.Errorf("labels %v, want %v", s.Labels, want)
	}
}

func TestLoadParquetErrorsNameFileRowColumnAndWhatWasExpected(t *testing.T) {
	for _, c := range []struct {
		file  string
		opt   ParquetOptions
		wants []string
	}{
		{"ragged.parquet", ParquetOptions{}, []string{"ragged.parquet", "row 2", `column "vec"`, "3 values, expected 4"}},
		{"nan.parquet", ParquetOptions{}, []string{"nan.parquet", "row 3", `column "vec"`, "element 1 is NaN", "finite"}},
		{"null.parquet", ParquetOptions{}, []string{"null.parquet", "row 4", `column "vec"`, "null"}},
		{"float64.parquet", ParquetOptions{}, []string{"float64.parquet", `"vec"`, "list<double>", "allowed: list<float32>"}},
		{"float64.parquet", ParquetOptions{Column: "vec"}, []string{"list<double>", "allowed: list<float32>"}},
		{"two_vectors.parquet", ParquetOptions{}, []string{"two_vectors.parquet", "several list<float32> columns (a, b)", "dataset.column"}},
		{"two_vectors.parquet", ParquetOptions{Column: "c"}, []string{`dataset.column "c"`, "a (list<float32>), b (list<float32>)"}},
		{"scalars_only.parquet", ParquetOptions{}, []string{"no list<float32> column", "id (int64), name (string)"}},
		{"pandas.parquet", ParquetOptions{Where: map[string]any{"layer": "x"}}, []string{"dataset.where.layer", `no column "layer"`, "run_id (string), epoch (int32)"}},
		{"pandas.parquet", ParquetOptions{Where: map[string]any{"epoch": "two"}}, []string{"dataset.where.epoch", "can never equal", "numbers"}},
		{"pandas.parquet", ParquetOptions{Where: map[string]any{"run_id": "zz"}}, []string{"no row matches where run_id = zz", "run_id: a, b"}},
		{"pandas.parquet", ParquetOptions{Where: map[string]any{"epoch": []any{1}}}, []string{"dataset.where.epoch", "allowed: a string, integer, bool or number"}},
	} {
		_, err := LoadParquet(vecFixture(c.file), c.opt)
		if err == nil {
			t.Errorf("%s %+v: loaded, want an error", c.file, c.opt)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %+v: error %q does not say %q", c.file, c.opt, err, w)
			}
		}
	}
}

func TestMissingFilesNameTheResolvedPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func(string) error{
		"parquet": func(p string) error { _, err := LoadParquet(p, ParquetOptions{}); return err },
		"npy":     func(p string) error { _, err := LoadNPY(p); return err },
	} {
		err := load("no/such/file")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(wd, "no", "such", "file")) {
			t.Errorf("%s: err = %v, want ErrNotFound naming %s", name, err, filepath.Join(wd, "no/such/file"))
		}
	}
}

func TestLoadNPYFloat32AndFloat16(t *testing.T) {
	for _, name := range []string{"f4.npy", "f2.npy"} { // the grid's values are exact in float16
		s, err := LoadNPY(vecFixture(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantGrid(t, s, []int{0, 1, 2, 3, 4}, 3)
		for _, l := range s.Labels {
			if l != NoLabel {
				t.Fatalf("%s: labels %v, want NoLabel", name, s.Labels)
			}
		}
	}
}

func TestLoadNPYRefusesOtherDtypesShapesAndOrders(t *testing.T) {
	for _, c := range []struct {
		file  string
		wants []string
	}{
		{"f8.npy", []string{"f8.npy", `dtype "<f8"`, "allowed: <f4, <f2"}},
		{"big_endian.npy", []string{`dtype ">f4"`, "allowed: <f4, <f2"}},
		{"fortran.npy", []string{"fortran.npy", "Fortran", "C order"}},
		{"three_d.npy", []string{"three_d.npy", "shape [2 3 4]", "allowed: 2-D"}},
		{"inf.npy", []string{"inf.npy", "row 4, column 2 is +Inf", "finite"}},
		{"truncated.npy", []string{"truncated.npy", "needs 60 bytes", "has 55"}},
		{"pandas.parquet", []string{"pandas.parquet", "not a .npy file"}},
	} {
		_, err := LoadNPY(vecFixture(c.file))
		if err == nil {
			t.Errorf("%s: loaded, want an error", c.file)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.file, err, w)
			}
		}
	}
}

// Every float16 value converts to the float32 of the same value: checked against
// the value computed from the IEEE 754 formula in float64.
func TestFloat16ConversionIsExactForEveryValue(t *testing.T) {
	for h := range 1 << 16 {
		sign := 1.0
		if h>>15 == 1 {
			sign = -1
		}
		exp, frac := (h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch exp {
		case 0x1f:
			if frac != 0 {
				if got := float16to32(uint16(h)); got == got {
					t.Fatalf("%#04x: got %v, want NaN", h, got)
				}
				continue
			}
			want = math.Inf(int(sign))
		case 0:
			want = sign * frac * math.Pow(2, -24)
		default:
			want = sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
		}
		if got := float16to32(uint16(h)); float64(got) != want || math.Signbit(float64(got)) != (sign < 0) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestOpenVectorSetsHaveNoTestSetAndNeedAPath(t *testing.T) {
	d, err := Open(Source{Name: "npy", Path: vecFixture("f4.npy")}, "")
	if err != nil || d.Test != nil || d.Train.N != 5 {
		t.Fatalf("Open(npy) = %+v, %v", d, err)
	}
	for _, name := range []string{"parquet", "npy"} {
		if _, err := Open(Source{Name: name}, ""); err == nil || !strings.Contains(err.Error(), "dataset.path") {
			t.Errorf("Open(%s) without a path: err = %v, want one naming dataset.path", name, err)
		}
		if _, err := Load(name, ""); err == nil || !strings.Contains(err.Error(), "data.Open") {
			t.Errorf("Load(%s): err = %v, want one pointing at data.Open", name, err)
		}
	}
}

func TestOutsideUnitIntervalFindsTheFirstValue(t *testing.T) {
	s := &Set{X: []float32{0, 1, 0.5, 0.2, 1.5, -1}, N: 3, Dim: 2}
	if r, f, v, ok := s.OutsideUnitInterval(); !ok || r != 2 || f != 0 || v != 1.5 {
		t.Errorf("got row %d feature %d value %v ok %v, want row 2 feature 0 value 1.5", r, f, v, ok)
	}
	s.X[4], s.X[5] = 1, 0
	if _, _, _, ok := s.OutsideUnitInterval(); ok {
		t.Error("values in [0,1] reported outside")
	}
}
