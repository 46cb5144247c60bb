package train

import (
	"context"
	"math"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
)

// The same model, data and seed trained on the go and the xla backends give the same
// metrics within 1e-4 (relative): float32 sums in a different order, nothing more.
// Skipped where no XLA plugin is installed (scripts/setup.sh installs one).
func TestGoAndXLABackendsAgree(t *testing.T) {
	backend.SkipWithoutXLA(t)
	xla, info, err := backend.Open("xla")
	if err != nil {
		t.Fatalf("plugin found but not loadable: %v", err)
	}
	goB, _, err := backend.Open("go")
	if err != nil {
		t.Fatal(err)
	}
	members := []Member{
		member(t, "a", map[string]any{"train.input_noise": 0}),
		member(t, "b", map[string]any{"regularizers.0.weight": 3, "train.seed": 2}),
	}
	// More than evalBatch validation rows, so that XLA validates in a compiled loop
	// (with the weight-decay penalty computed inside it).
	ds, err := data.Load("digits", "")
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := data.Split(ds.Train, 0.4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if val.N <= evalBatch {
		t.Fatalf("validation set of %d rows: want more than %d", val.N, evalBatch)
	}
	d := Data{Train: tr.Head(300), Validation: val}
	var hist [2]History
	for i, be := range []compute.Backend{goB, xla} {
		if _, err := Train(context.Background(), be, members, d, &hist[i]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("compared go with %s", info)
	for k := range members {
		for e := range hist[0].Epochs[k] {
			for j, m := range hist[0].Epochs[k][e].Metrics {
				x := hist[1].Epochs[k][e].Metrics[j].Value
				if math.Abs(x-m.Value) > 1e-4*math.Max(1, math.Abs(m.Value)) {
					t.Errorf("model %d epoch %d %s/%s: go %v, xla %v", k, e+1, m.Split, m.Name, m.Value, x)
				}
			}
		}
	}
}
