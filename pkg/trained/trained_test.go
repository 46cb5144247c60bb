package trained

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
	"github.com/sparselab/saerun/pkg/spec"
)

// train runs specText (its name: name) into dir and opens its sweep.
func train(t *testing.T, dir, name, specText string) *results.Sweep {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(specText), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	sum, err := runner.RunFile(context.Background(), path, runner.Options{Out: dir, Backend: "go", Log: &log})
	if err != nil || !sum.Finished() || sum.Completed < 1 {
		t.Fatalf("%s: %+v %v\n%s", name, sum, err, log.String())
	}
	sw, err := results.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

func onlyRun(t *testing.T, sw *results.Sweep) string {
	t.Helper()
	runs, err := sw.Runs(results.Filter{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	return runs[0].RunID
}

func near(a, b float32, tol float64) bool {
	return math.Abs(float64(a-b)) <= tol*math.Max(1, math.Abs(float64(b)))
}

// The loaded model's code (Encode) and reconstruction (Decode) of the recorded
// validation inputs equal what the runner recorded, for an autoencoder (the code: the
// last encoder layer), a VAE (its μ) and every SAE activation; the model is kept by
// default (no record.weights key in these specs).
func TestLoadedModelReproducesTheRecordedCodesAndReconstructions(t *testing.T) {
	dir := t.TempDir()
	const common = `loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 32, seed: 3}
`
	cases := []struct{ name, body, layer string }{
		{"ae", `dataset: {name: digits, max_train_samples: 200, max_validation_samples: 40}
model:
  encoder: [{units: 12, activation: relu}, {units: 5, activation: tanh}]
  decoder: [{units: 12, activation: satlin}, {activation: sigmoid}]
record:
  activations: {layers: [encoder.1], samples: 10, every: 2}
  reconstructions: {samples: 10, every: 2}
`, "encoder.1"},
		{"vae", `dataset: {name: digits, max_train_samples: 200, max_validation_samples: 40}
model:
  kind: vae
  latent: 3
  encoder: [{units: 10, activation: relu}]
  decoder: [{units: 10, activation: relu}, {activation: sigmoid}]
record:
  activations: {layers: [latent], samples: 10, every: 2}
  reconstructions: {samples: 10, every: 2}
`, "latent"},
	}
	for _, act := range []struct{ act, keys string }{
		{"relu", "l1_coefficient: 0.01"}, {"topk", "k: 3"}, {"batchtopk", "k: 3"},
		{"matryoshka_batchtopk", "k: 3, matryoshka_widths: [4, 16]"}, {"jumprelu", "l0_coefficient: 0.001"},
	} {
		cases = append(cases, struct{ name, body, layer string }{"sae-" + act.act, fmt.Sprintf(`dataset: {name: synthetic, synthetic: {dim: 8, features: 12, samples: 400, active: 2, seed: 1}}
model: {kind: sae, sae: {latents: 16, activation: %s, %s, normalize: unit_mean_squared_norm}}
record:
  activations: {layers: [encoder.0], samples: 10, every: 2}
  reconstructions: {samples: 10, every: 2}
`, act.act, act.keys), "encoder.0"})
	}
	for _, c := range cases {
		text := "name: " + c.name + "\n" + c.body + common
		if strings.HasPrefix(c.name, "sae") {
			text = strings.Replace(text, "loss: mse", "loss: mse_sum", 1)
		}
		sw := train(t, dir, c.name, text)
		id := onlyRun(t, sw)
		m, err := Load(sw, id)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.Epoch != 2 || m.RunID != id {
			t.Errorf("%s: loaded epoch %d of %s, want the last (2) of %s", c.name, m.Epoch, m.RunID, id)
		}
		acts, err := sw.Activations(results.Filter{Layer: c.layer})
		if err != nil {
			t.Fatal(err)
		}
		images, err := sw.Reconstructions(results.Filter{Kind: "reconstruction"})
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) != 10 || len(images) != 10 {
			t.Fatalf("%s: %d activation rows, %d reconstructions; want 10 each", c.name, len(acts), len(images))
		}
		byIndex := map[int32][]float32{}
		for _, a := range acts {
			byIndex[a.ValidationIndex] = a.Activation
		}
		nonzero := 0
		for _, im := range images {
			h, err := m.Encode(im.Input)
			if err != nil {
				t.Fatal(err)
			}
			rec := byIndex[im.ValidationIndex]
			if len(h) != len(rec) || len(h) != m.L {
				t.Fatalf("%s: code of %d values, recorded %d, L = %d", c.name, len(h), len(rec), m.L)
			}
			for j := range h {
				if !near(h[j], rec[j], 1e-4) {
					t.Fatalf("%s: row %d code %d: host %v, recorded %v", c.name, im.ValidationIndex, j, h[j], rec[j])
				}
				if h[j] != 0 {
					nonzero++
				}
			}
			out, err := m.Reconstruct(im.Input)
			if err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if !near(out[i], im.Output[i], 1e-3) {
					t.Fatalf("%s: row %d feature %d: host %v, recorded %v", c.name, im.ValidationIndex, i, out[i], im.Output[i])
				}
			}
		}
		if nonzero == 0 {
			t.Errorf("%s: every code value was 0: the comparison checked only zeros", c.name)
		}
	}
}

// Loading what is not there fails naming the run and the folder: an unknown run id,
// a run whose spec turned weights off, an epoch that recorded none.
func TestLoadRefusesUnknownRunsRunsWithoutWeightsAndMissingEpochs(t *testing.T) {
	dir := t.TempDir()
	sw := train(t, dir, "off", `name: off
dataset: {name: digits, max_train_samples: 100, max_validation_samples: 20}
model: {encoder: [{units: 4, activation: relu}], decoder: [{activation: sigmoid}]}
loss: mse
optimizer: {name: adam}
train: {epochs: 1, batch_size: 50}
record: {weights: {every: 0}}
`)
	id := onlyRun(t, sw)
	if _, err := Load(sw, "no-such-run"); err == nil || !strings.Contains(err.Error(), `"no-such-run"`) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := Load(sw, id); err == nil || !strings.Contains(err.Error(), "record.weights.every: 0") {
		t.Errorf("run without weights: %v", err)
	}
	sw2 := train(t, dir, "on", strings.Replace(strings.Replace(`name: off
dataset: {name: digits, max_train_samples: 100, max_validation_samples: 20}
model: {encoder: [{units: 4, activation: relu}], decoder: [{activation: sigmoid}]}
loss: mse
optimizer: {name: adam}
train: {epochs: 1, batch_size: 50}
`, "name: off", "name: on", 1), "record: {weights: {every: 0}}\n", "", 1))
	if _, err := LoadEpoch(sw2, onlyRun(t, sw2), 7); err == nil || !strings.Contains(err.Error(), "epoch 7") {
		t.Errorf("missing epoch: %v", err)
	}
}

// New refuses weights that do not fit the spec: a layer missing, shapes that do not
// chain, an unknown activation.
func TestNewRefusesWeightsThatDoNotFitTheSpec(t *testing.T) {
	s := spec.Spec{Model: spec.Model{Kind: "autoencoder",
		Encoder: []spec.Layer{{Units: 3, Activation: "relu"}}, Decoder: []spec.Layer{{Activation: "sigmoid"}}}}
	l0 := results.LayerWeights{Name: "encoder.0", In: 2, Out: 3, Kernel: make([]float32, 6), Bias: make([]float32, 3)}
	l1 := results.LayerWeights{Name: "decoder.0", In: 3, Out: 2, Kernel: make([]float32, 6), Bias: make([]float32, 2)}
	if _, err := New(s, []results.LayerWeights{l0, l1}); err != nil {
		t.Fatalf("a fitting model refused: %v", err)
	}
	if _, err := New(s, []results.LayerWeights{l0}); err == nil || !strings.Contains(err.Error(), "2 layers") {
		t.Errorf("a missing layer: %v", err)
	}
	bad := l1
	bad.In, bad.Kernel = 4, make([]float32, 8)
	if _, err := New(s, []results.LayerWeights{l0, bad}); err == nil || !strings.Contains(err.Error(), "takes 4 inputs") {
		t.Errorf("shapes that do not chain: %v", err)
	}
	s.Model.Decoder[0].Activation = "gelu"
	if _, err := New(s, []results.LayerWeights{l0, l1}); err == nil || !strings.Contains(err.Error(), `"gelu"`) {
		t.Errorf("unknown activation: %v", err)
	}
}

// The summary names every layer with its shape, activation and parameters (kernel,
// bias, thresholds), and the total is their sum.
func TestSummaryListsLayersShapesAndParameterCounts(t *testing.T) {
	enc := results.LayerWeights{Name: "encoder.0", In: 3, Out: 2, Kernel: make([]float32, 6), Bias: make([]float32, 2), Threshold: make([]float32, 2)}
	dec := results.LayerWeights{Name: "decoder.0", In: 2, Out: 3, Kernel: make([]float32, 6), Bias: make([]float32, 3)}
	m, err := NewSAE(enc, dec, "jumprelu", 0)
	if err != nil {
		t.Fatal(err)
	}
	m.RunID, m.Epoch = "abc", 4
	if m.Params() != 6+2+2+6+3 {
		t.Errorf("Params() = %d, want 19", m.Params())
	}
	want := "sae of run abc, weights of epoch 4:\n" +
		"  encoder.0      3 -> 2     jumprelu            10 params\n" +
		"  decoder.0      2 -> 3     linear               9 params\n" +
		"  total 19 params\n"
	if got := m.Summary(); got != want {
		t.Errorf("Summary():\n%s\nwant:\n%s", got, want)
	}
	ae, err := New(spec.Spec{Model: spec.Model{Kind: "autoencoder", Encoder: []spec.Layer{{Units: 2, Activation: "relu"}}, Decoder: []spec.Layer{{Units: 3, Activation: "sigmoid"}}}},
		[]results.LayerWeights{{Name: "encoder.0", In: 3, Out: 2, Kernel: make([]float32, 6), Bias: make([]float32, 2)}, {Name: "decoder.0", In: 2, Out: 3, Kernel: make([]float32, 6), Bias: make([]float32, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	if s := ae.Summary(); !strings.Contains(s, "encoder.0      3 -> 2     relu                 8 params") || !strings.Contains(s, "total 17 params") {
		t.Errorf("autoencoder summary:\n%s", s)
	}
}
