package results_test

import (
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

// LastEpoch keeps each run's own last epoch (runs of different lengths), among the
// rows the other fields select, in every per-epoch table.
func TestLastEpochKeepsEachRunsOwnLastRecordedEpoch(t *testing.T) {
	w, dir := newSweep(t)
	long := fakeRun(t, w, 1, results.StatusCompleted, 3)
	short := fakeRun(t, w, 2, results.StatusCompleted, 2)
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{long: 3, short: 2}
	check := func(table string, n int, err error, epochOf func(i int) (string, int32)) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		seen := map[string]bool{}
		for i := range n {
			id, e := epochOf(i)
			seen[id] = true
			if e != want[id] {
				t.Errorf("%s: run %s row of epoch %d, want only its last epoch %d", table, id, e, want[id])
			}
		}
		if len(seen) != 2 {
			t.Errorf("%s: rows of %d runs, want 2", table, len(seen))
		}
	}
	units, err := sw.Units(results.Filter{Layer: "encoder.0", LastEpoch: true})
	check("units", len(units), err, func(i int) (string, int32) { return units[i].RunID, units[i].Epoch })
	if len(units) != 6 {
		t.Errorf("%d unit rows, want 3 units × 2 runs", len(units))
	}
	acts, err := sw.Activations(results.Filter{LastEpoch: true})
	check("activations", len(acts), err, func(i int) (string, int32) { return acts[i].RunID, acts[i].Epoch })
	imgs, err := sw.Reconstructions(results.Filter{Kind: "reconstruction", LastEpoch: true})
	check("reconstructions", len(imgs), err, func(i int) (string, int32) { return imgs[i].RunID, imgs[i].Epoch })
	ws, err := sw.Weights(results.Filter{LastEpoch: true})
	check("weights", len(ws), err, func(i int) (string, int32) { return ws[i].RunID, ws[i].Epoch })
	ms, err := sw.Metrics(results.Filter{Split: "validation", Metric: "loss", LastEpoch: true})
	check("metrics", len(ms), err, func(i int) (string, int32) { return ms[i].RunID, ms[i].Epoch })
	if len(ms) != 2 {
		t.Errorf("%d last validation losses, want one per run", len(ms))
	}

	// Among the epochs the filter selects: the last of those, not of the run.
	early, err := sw.Units(results.Filter{RunIDs: []string{long}, Epochs: []int{1, 2}, LastEpoch: true})
	if err != nil || len(early) != 3 || early[0].Epoch != 2 {
		t.Errorf("last of epochs 1-2: %+v %v", early, err)
	}
	// Without it, every epoch.
	all, _ := sw.Units(results.Filter{RunIDs: []string{long}})
	if len(all) != 9 {
		t.Errorf("%d unit rows of 3 epochs without LastEpoch, want 9", len(all))
	}
}

func TestLabelNamesSweptValuesByTheShortestPathEndNoOtherShares(t *testing.T) {
	for _, c := range []struct {
		params map[string]any
		want   string
	}{
		{nil, "-"},
		{map[string]any{"regularizers.0.weight": 0.001}, "weight=0.001"},
		{map[string]any{"regularizers.0.weight": 1e-05, "regularizers.0.target": 0.05}, "target=0.05, weight=1e-05"},
		{map[string]any{"regularizers.0.weight": 3.0, "regularizers.1.weight": 0.5}, "0.weight=3, 1.weight=0.5"},
		{map[string]any{"regularizers.0.convention": "keras", "model.sae.k": 8.0}, "k=8, convention=keras"},
		{map[string]any{"weight": 2.0, "regularizers.0.weight": 1.0}, "0.weight=1, weight=2"},
	} {
		r := results.Run{Params: c.params}
		if got := r.Label(); got != c.want {
			t.Errorf("Label of %v = %q, want %q", c.params, got, c.want)
		}
	}
}
