package runner

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/results"
)

// A spec recording weights every 2 epochs (and the last), the whole validation set's
// activations, and both MAPEs. tests/test_weights.py runs it through the command and
// reads the same tables with pandas.
const recordSpec = `name: rec
dataset: {name: digits, max_train_samples: 200, max_validation_samples: 60}
model:
  encoder: [{units: 12, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 1.0e-12}
train: {epochs: 3, batch_size: 32, seed: 7}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 1, convention: keras}
metrics: [mape]
record:
  activations: {samples: all, every: 3}
  weights: {every: 2}
`

func TestRecordedWeightsActivationsOfAllSamplesAndBothMAPEs(t *testing.T) {
	out := os.Getenv("SAERUN_RECORD_TEST_OUT")
	if out == "" {
		out = t.TempDir()
	}
	o := opts(out)
	o.NoCompact = true
	if _, err := RunFile(context.Background(), writeSpec(t, recordSpec), o); err != nil {
		t.Fatal(err)
	}
	sw, err := results.Open(filepath.Join(out, "rec"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := sw.Weights(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Epochs 2 and 3 (the last), two layers, kernel and bias each.
	if len(w) != 2*2*2 || w[0].Epoch != 2 || w[len(w)-1].Epoch != 3 {
		t.Fatalf("weights rows: %d (epochs %d..%d)", len(w), w[0].Epoch, w[len(w)-1].Epoch)
	}
	// With a learning rate of 1e-12 the kernel is still its Glorot initialisation,
	// in×out as exported.
	init := autoencoder.GlorotUniform(7, 0, 64, 12)
	for _, r := range w {
		if r.Layer == "encoder.0" && r.Kind == "kernel" {
			if len(r.Shape) != 2 || r.Shape[0] != 64 || r.Shape[1] != 12 || len(r.Values) != 64*12 {
				t.Fatalf("encoder kernel shape %v, %d values", r.Shape, len(r.Values))
			}
			for i := range init {
				if math.Abs(float64(r.Values[i]-init[i])) > 1e-6 {
					t.Fatalf("kernel[%d] = %v, want the initial %v", i, r.Values[i], init[i])
				}
			}
		}
	}
	acts, err := sw.Activations(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 60 || acts[59].ValidationIndex != 59 {
		t.Errorf("activations of all samples: %d rows", len(acts))
	}
	m, err := sw.Metrics(results.Filter{Split: "validation"})
	if err != nil {
		t.Fatal(err)
	}
	final := func(name string) float64 {
		for _, v := range m.Final("validation", name) {
			return v
		}
		return math.NaN()
	}
	if v := final("mape_seed"); !(v > 0 && v < 1000) {
		t.Errorf("mape_seed = %v", v)
	}
}

// A spec without record.weights keeps its final weights (the last epoch only), and
// record.weights: {every: 0} keeps none.
func TestTheFinalWeightsAreKeptByDefaultAndEveryZeroKeepsNone(t *testing.T) {
	const spec = `name: NAME
dataset: {name: digits, max_train_samples: 100, max_validation_samples: 30}
model:
  encoder: [{units: 6, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam}
train: {epochs: 3, batch_size: 50, seed: 1}
`
	for _, c := range []struct {
		name, extra string
		rows        int
	}{{"keep", "", 2 * 2}, {"none", "record: {weights: {every: 0}}\n", 0}} {
		out := t.TempDir()
		o := opts(out)
		o.NoCompact = true
		text := strings.Replace(spec, "NAME", c.name, 1) + c.extra
		if _, err := RunFile(context.Background(), writeSpec(t, text), o); err != nil {
			t.Fatal(err)
		}
		sw, err := results.Open(filepath.Join(out, c.name))
		if err != nil {
			t.Fatal(err)
		}
		w, err := sw.Weights(results.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(w) != c.rows {
			t.Fatalf("%s: %d weights rows, want %d", c.name, len(w), c.rows)
		}
		for _, r := range w {
			if r.Epoch != 3 {
				t.Errorf("%s: weights of epoch %d, want only the last (3)", c.name, r.Epoch)
			}
		}
	}
}
