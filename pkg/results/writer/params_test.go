package writer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

// TestSweptIntegersAreInt64Columns: a swept integer (model.sae.k, units) is an int64
// column of the runs table (pandas reads 2, not 2.0), a float a double, a string a
// string; the Go reader still gives numbers as float64.
func TestSweptIntegersAreInt64Columns(t *testing.T) {
	dir := t.TempDir()
	sw, err := OpenSweep(dir, "ints", []byte("name: ints\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := sweep.Run{ID: "intsrun00001", Params: []sweep.Param{{Path: "model.sae.k", Value: uint64(2)}, {Path: "regularizers.0.weight", Value: 1e-05}, {Path: "dataset.path", Value: "a.npy"}}}
	w, err := sw.StartRun(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(results.Outcome{Status: results.StatusCompleted, Epochs: 1}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ints", results.RunsTable, r.ID+".parquet")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for col, want := range map[string]parquet.Kind{"model.sae.k": parquet.Int64, "regularizers.0.weight": parquet.Double, "dataset.path": parquet.ByteArray} {
		leaf, ok := pf.Schema().Lookup(col)
		if !ok || leaf.Node.Type().Kind() != want {
			t.Errorf("column %s: %v, want %v", col, leaf.Node.Type(), want)
		}
	}
	s, err := results.Open(filepath.Join(dir, "ints"))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(results.Filter{})
	if err != nil || len(runs) != 1 {
		t.Fatal(runs, err)
	}
	if k, ok := runs[0].Param("model.sae.k"); !ok || k != 2 {
		t.Errorf("Param(model.sae.k) = %v %v", k, ok)
	}
}
