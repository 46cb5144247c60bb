package saelatents

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
)

// tiny is a 2-input, 3-latent SAE with W_enc = I-like columns, so that z is easy to
// write by hand: z = (x0 − 1, x1 − 1, x0 + x1 − 2) + b_enc.
func tiny(t *testing.T, activation string, k int, threshold []float32) *SAE {
	t.Helper()
	enc := results.LayerWeights{In: 2, Out: 3, Kernel: []float32{1, 0, 1, 0, 1, 1}, Bias: []float32{0, 0.5, 0}, Threshold: threshold}
	dec := results.LayerWeights{In: 3, Out: 2, Kernel: []float32{1, 0, 0, 1, 0.6, 0.8}, Bias: []float32{1, 1}}
	s, err := New(enc, dec, activation, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEncodeAppliesEachActivationToTheHandComputedPreActivations(t *testing.T) {
	x := []float32{3, 2, 0, 1} // z rows: (2, 1.5, 3) and (−1, 0.5, −1)
	for _, c := range []struct {
		act       string
		k         int
		threshold []float32
		want      []float32
	}{
		{"relu", 0, nil, []float32{2, 1.5, 3, 0, 0.5, 0}},
		{"topk", 2, nil, []float32{2, 0, 3, 0, 0.5, 0}}, // second row: only one positive among the top 2
		{"batchtopk", 0, []float32{1.5}, []float32{2, 0, 3, 0, 0, 0}},
		{"matryoshka_batchtopk", 0, []float32{1.5}, []float32{2, 0, 3, 0, 0, 0}},
		{"jumprelu", 0, []float32{2.5, 0.1, 0.1}, []float32{0, 1.5, 3, 0, 0.5, 0}},
	} {
		h, err := tiny(t, c.act, c.k, c.threshold).Encode(x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h, c.want) {
			t.Errorf("%s: latents %v, want %v", c.act, h, c.want)
		}
	}
}

func TestDecodeIsTheDecoderDirectionsTimesTheLatentsPlusTheBias(t *testing.T) {
	out, err := tiny(t, "relu", 0, nil).Decode([]float32{2, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1 + 2 + 0.6, 1 + 0.8}; math.Abs(float64(out[0]-want[0])) > 1e-6 || math.Abs(float64(out[1]-want[1])) > 1e-6 {
		t.Errorf("decoded %v, want %v", out, want)
	}
}

func TestNewRefusesMismatchedShapesAndMissingThresholds(t *testing.T) {
	enc := results.LayerWeights{In: 2, Out: 3, Kernel: make([]float32, 6), Bias: make([]float32, 3)}
	dec := results.LayerWeights{In: 3, Out: 2, Kernel: make([]float32, 6), Bias: make([]float32, 2)}
	for _, c := range []struct {
		name     string
		enc, dec results.LayerWeights
		act      string
		k        int
		want     string
	}{
		{"jumprelu without thresholds", enc, dec, "jumprelu", 0, "needs 3 thresholds"},
		{"topk with k above the latents", enc, dec, "topk", 4, "k = 4"},
		{"unknown activation", enc, dec, "gelu", 0, `"gelu"`},
		{"decoder of another size", enc, results.LayerWeights{In: 3, Out: 3, Kernel: make([]float32, 9), Bias: make([]float32, 3)}, "relu", 0, "want 3×2"},
	} {
		if _, err := New(c.enc, c.dec, c.act, c.k); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestTopOrdersTheFiringRowsByActivationAndFrequenciesCountThem(t *testing.T) {
	h := []float32{ // 4 rows × 2 latents
		0, 1,
		3, 0,
		2, 2,
		3, 0.5,
	}
	rows, err := Top(h, 2, 0, 5)
	if err != nil || !slices.Equal(rows, []int{1, 3, 2}) {
		t.Errorf("Top(latent 0) = %v, %v; want [1 3 2] (row 0 does not fire; ties keep row order)", rows, err)
	}
	if rows, _ := Top(h, 2, 1, 2); !slices.Equal(rows, []int{2, 0}) {
		t.Errorf("Top(latent 1, 2) = %v, want [2 0]", rows)
	}
	if f := Frequencies(h, 2); !slices.Equal(f, []float64{0.75, 0.75}) {
		t.Errorf("frequencies %v", f)
	}
	if _, err := Top(h, 2, 2, 1); err == nil {
		t.Error("Top accepted latent 2 of 2")
	}
}

// The host-side latents and reconstructions equal what the runner recorded for the
// first validation rows (activations and reconstructions tables), for each activation:
// the formulas here are the ones the model trained and evaluated with.
func TestLoadedSAEReproducesTheRunnersRecordedLatentsAndReconstructions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sae.yaml")
	for _, c := range []struct{ act, keys string }{
		{"relu", "l1_coefficient: 0.01"},
		{"topk", "k: 3"},
		{"batchtopk", "k: 3, threshold_momentum: 0.9"},
		{"matryoshka_batchtopk", "k: 3, threshold_momentum: 0.9, matryoshka_widths: [4, 16]"},
		{"jumprelu", "l0_coefficient: 0.001"},
	} {
		specText := fmt.Sprintf(`name: sae-%s
dataset: {name: synthetic, synthetic: {dim: 8, features: 12, samples: 400, active: 2, seed: 1}}
model: {kind: sae, sae: {latents: 16, activation: %s, %s, normalize: unit_mean_squared_norm}}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 32, seed: 1}
record:
  activations: {layers: [encoder.0], samples: 12, every: 3}
  reconstructions: {samples: 12, every: 3}
  weights: {every: 3}
`, c.act, c.act, c.keys)
		if err := os.WriteFile(path, []byte(specText), 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		sum, err := runner.RunFile(context.Background(), path, runner.Options{Out: dir, Backend: "go", Log: &log})
		if err != nil || !sum.Finished() || sum.Completed != 1 {
			t.Fatalf("%s: %+v %v\n%s", c.act, sum, err, log.String())
		}
		sw, err := results.Open(filepath.Join(dir, "sae-"+c.act))
		if err != nil {
			t.Fatal(err)
		}
		runs, err := sw.Runs(results.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Load(sw, runs[0])
		if err != nil {
			t.Fatalf("%s: %v", c.act, err)
		}
		acts, err := sw.Activations(results.Filter{Layer: "encoder.0"})
		if err != nil {
			t.Fatal(err)
		}
		images, err := sw.Reconstructions(results.Filter{Kind: "reconstruction"})
		if err != nil {
			t.Fatal(err)
		}
		byIndex := map[int32][]float32{}
		for _, a := range acts {
			byIndex[a.ValidationIndex] = a.Activation
		}
		if len(images) != 12 || len(byIndex) != 12 {
			t.Fatalf("%s: %d recorded inputs, %d recorded latent rows; want 12 each", c.act, len(images), len(byIndex))
		}
		fired := 0
		for _, im := range images {
			h, err := s.Encode(im.Input)
			if err != nil {
				t.Fatal(err)
			}
			rec := byIndex[im.ValidationIndex]
			for j := range h {
				// A latent right at its cut may flip between float32 on the device and
				// float64 here; none is that close in these runs.
				if math.Abs(float64(h[j]-rec[j])) > 1e-4*math.Max(1, math.Abs(float64(rec[j]))) {
					t.Fatalf("%s: validation row %d latent %d: host %v, recorded %v", c.act, im.ValidationIndex, j, h[j], rec[j])
				}
				if h[j] > 0 {
					fired++
				}
			}
			out, err := s.Decode(h)
			if err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if math.Abs(float64(out[i]-im.Output[i])) > 1e-3*math.Max(1, math.Abs(float64(im.Output[i]))) {
					t.Fatalf("%s: validation row %d feature %d: host %v, recorded %v", c.act, im.ValidationIndex, i, out[i], im.Output[i])
				}
			}
		}
		if fired == 0 {
			t.Errorf("%s: no latent fired on 12 rows: the comparison checked only zeros", c.act)
		}
	}
}
