package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
)

// SAEActivations are the SAE activations tests/test_saelens_export.py loads with
// SAELens, each with its keys.
var saeActivations = []struct{ act, keys string }{
	{"relu", "l1_coefficient: 0.01"}, {"topk", "k: 3"}, {"batchtopk", "k: 3"},
	{"matryoshka_batchtopk", "k: 3, matryoshka_widths: [4, 16]"}, {"jumprelu", "l0_coefficient: 0.001"},
}

// One SAE of every activation, trained with the whole validation set's latents and
// reconstructions recorded, exported in the saelens format under OUT/export/<sweep>;
// OUT is $SAERUN_SAELENS_TEST_OUT (tests/test_saelens_export.py loads the folders
// with SAELens and compares) or a temporary folder.
func TestExportedSAEsOfEveryActivationForSAELens(t *testing.T) {
	dir := os.Getenv("SAERUN_SAELENS_TEST_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, c := range saeActivations {
		name := "sae-" + c.act
		text := fmt.Sprintf(`name: %s
dataset: {name: synthetic, synthetic: {dim: 8, features: 12, samples: 400, active: 2, seed: 1}}
model: {kind: sae, sae: {latents: 16, activation: %s, %s, normalize: unit_mean_squared_norm}}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 32, seed: 1}
record:
  activations: {layers: [encoder.0], samples: all, every: 3}
  reconstructions: {samples: 10000, every: 3}
`, name, c.act, c.keys)
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if sum, err := runner.RunFile(context.Background(), path, runner.Options{Out: dir, Backend: "go", Log: &log}); err != nil || sum.Completed != 1 {
			t.Fatalf("%s: %v\n%s", name, err, log.String())
		}
		sw, err := results.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		done, err := Export(sw, Options{Out: filepath.Join(dir, "export", name), Format: "saelens"})
		if err != nil || len(done) != 1 {
			t.Fatalf("%s: %+v %v", name, done, err)
		}
		if _, err := os.Stat(filepath.Join(done[0].Dir, "sae_weights.safetensors")); err != nil {
			t.Error(err)
		}
	}
}
