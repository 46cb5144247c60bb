package results_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/sweep"
)

func TestRegistryDeclaresEachTableOnceWithAKeyOfItsOwnColumns(t *testing.T) {
	seen := map[string]bool{}
	for i, tab := range results.Registry {
		if seen[tab.Name] {
			t.Errorf("table %s declared twice", tab.Name)
		}
		seen[tab.Name] = true
		if tab.Doc == "" || len(tab.Key) == 0 || tab.Key[0] != "run_id" {
			t.Errorf("table %s: doc %q, key %v: want a doc and a key starting with run_id", tab.Name, tab.Doc, tab.Key)
		}
		cols := tab.Columns()
		for _, k := range tab.Key {
			if !slices.Contains(cols, k) {
				t.Errorf("table %s: key column %s is not one of its columns %v", tab.Name, k, cols)
			}
		}
		if tab.Name == results.RunsTable && (tab.PerEpoch() || i != len(results.Registry)-1) {
			t.Errorf("the runs table must be last and written once per run (compaction switches it last)")
		}
		if got, ok := results.Lookup(tab.Name); !ok || got.Name != tab.Name {
			t.Errorf("Lookup(%s) = %v %v", tab.Name, got.Name, ok)
		}
	}
	if !slices.Equal(results.Tables, slices.Collect(func(yield func(string) bool) {
		for _, tab := range results.Registry {
			if !yield(tab.Name) {
				return
			}
		}
	})) {
		t.Errorf("Tables %v is not Registry's names", results.Tables)
	}
	if _, ok := results.Lookup("../runs"); ok {
		t.Error("Lookup found a table that is not declared")
	}
}

// TestWriterWritesAFileForATableOnlyWithRows writes two runs through the writer: a
// per-epoch table of the registry gets a file exactly when the run's epochs have rows
// for it (the runs table always); the optional weights table only for the run whose
// epochs carry weights.
func TestWriterWritesAFileForATableOnlyWithRows(t *testing.T) {
	dir := t.TempDir()
	sw, err := writer.OpenSweep(dir, "s", []byte("name: s\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, withWeights := range []bool{false, true} {
		id := "plain"
		e := &results.Epoch{Epoch: 1, Metrics: []results.Metric{{Split: "validation", Name: "loss", Value: 1}}}
		if withWeights {
			id = "weighed"
			e.Weights = []results.LayerWeights{{Name: "encoder.0", In: 1, Out: 1, Kernel: []float32{1}, Bias: []float32{0}}}
		}
		w, err := sw.StartRun(sweep.Run{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Epoch(e); err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(results.Outcome{Status: results.StatusCompleted, Epochs: 1}, writer.Backend{Name: "go"}, 1); err != nil {
			t.Fatal(err)
		}
		for _, tab := range results.Registry {
			if tab.HasRows(e) != (tab.PerEpoch() && (!tab.Optional || withWeights) && tab.Name != results.UnitsTable &&
				tab.Name != results.ActivationsTable && tab.Name != results.ImagesTable) {
				t.Errorf("run %s, table %s: HasRows %v", id, tab.Name, tab.HasRows(e))
			}
			_, err := os.Stat(filepath.Join(dir, "s", tab.Name, id+".parquet"))
			if want := tab.HasRows(e) || !tab.PerEpoch(); (err == nil) != want {
				t.Errorf("run %s, table %s: file exists %v, want %v", id, tab.Name, err == nil, want)
			}
		}
	}
	// Not even an empty folder for the optional table of a sweep that never records it.
	plain := t.TempDir()
	sw, err = writer.OpenSweep(plain, "p", []byte("name: p\n"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := sw.StartRun(sweep.Run{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for ep := 1; ep <= 2; ep++ {
		if err := w.Epoch(&results.Epoch{Epoch: ep}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(results.Outcome{Status: results.StatusCompleted, Epochs: 2}, writer.Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plain, "p", results.WeightsTable)); err == nil {
		t.Error("a sweep that records no weights has a weights folder")
	}
	r, err := results.Open(filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := r.Weights(results.Filter{}); err != nil || len(rows) != 2 || rows[0].RunID != "weighed" {
		t.Errorf("weights rows %+v %v", rows, err)
	}
	// Any table reads through the generic reader, by its name alone.
	type key struct {
		RunID string `parquet:"run_id"`
		Epoch int32  `parquet:"epoch"`
	}
	for table, want := range map[string]int{results.MetricsTable: 2, results.WeightsTable: 2, results.UnitsTable: 0} {
		rows, err := results.Read[key](r, table, results.Filter{Epochs: []int{1}})
		if err != nil || len(rows) != want {
			t.Errorf("Read %s: %d rows %v, want %d", table, len(rows), err, want)
		}
	}
	if rows, err := results.Read[key](r, results.MetricsTable, results.Filter{RunIDs: []string{"plain"}, Epochs: []int{2}}); err != nil || len(rows) != 0 {
		t.Errorf("Read of an epoch no run has: %v %v", rows, err)
	}
	if rows, err := results.Read[results.MetricRow](r, results.MetricsTable, results.Filter{RunIDs: []string{"plain"}}); err != nil || len(rows) != 1 || rows[0].RunID != "plain" {
		t.Errorf("Read of one run: %+v %v", rows, err)
	}
	if _, err := results.Read[key](r, "../spec.yaml", results.Filter{}); err == nil {
		t.Error("Read of an undeclared table succeeded")
	}
}
