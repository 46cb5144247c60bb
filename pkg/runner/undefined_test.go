package runner

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/data/npytest"
	"github.com/sparselab/saerun/pkg/results"
)

// writeNPYOf writes a rows×dim <f4 .npy file of x[i, j] = f(i, j).
func writeNPYOf(t *testing.T, path string, rows, dim int, f func(i, j int) float32) {
	t.Helper()
	npytest.Write(t, path, npytest.Of(rows, dim, f), rows, dim)
}

// Issue 23: a validation metric that is undefined on the data (a variance or a norm of
// zero) while training stays finite does not make the run "diverged" (which --resume
// never reruns): the run completes, the metric is NaN in the metrics table (never 0)
// and null in the runs table's final metrics.
func TestAnUndefinedValidationMetricIsRecordedAsSuchAndTheRunCompletes(t *testing.T) {
	dir := t.TempDir()
	constant := filepath.Join(dir, "constant.npy") // every row the same: zero variance
	writeNPYOf(t, constant, 40, 6, func(i, j int) float32 { return float32(j) / 4 })
	zeros := filepath.Join(dir, "zeros.npy")
	writeNPYOf(t, zeros, 40, 6, func(i, j int) float32 { return 0 })
	const sae = `name: undefined
dataset: {name: npy, path: %s%s}
model:
  kind: sae
  sae: {latents: 8, activation: topk, k: 2}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 8}
`
	const ae = `name: undefined
dataset: {name: npy, path: %s%s}
model:
  encoder: [{units: 4, activation: relu}]
  decoder: [{activation: linear}]
loss: mse
metrics: [mape]
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 8}
`
	for _, c := range []struct {
		name, spec, path, extra string
		undefined               []string // validation metrics that must be NaN
	}{
		{"zero-variance data", sae, constant, "", []string{"fvu", "explained_variance"}},
		{"all-zero data", sae, zeros, "", []string{"fvu", "explained_variance", "nmse"}},
		{"mape on all-zero data", ae, zeros, "", []string{"mape", "mape_seed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			sum, err := RunFile(context.Background(), writeSpec(t, fmt.Sprintf(c.spec, c.path, c.extra)), opts(out))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Completed != 1 || sum.Diverged != 0 {
				t.Fatalf("summary %+v; want the run completed", sum)
			}
			nan := map[string]bool{}
			for _, m := range readMetrics(t, sum.Dir) {
				if m.Split == "validation" && m.Epoch == 2 && math.IsNaN(m.Value) {
					nan[m.Metric] = true
				}
				if m.Split == "train" && (math.IsNaN(m.Value) || math.IsInf(m.Value, 0)) {
					t.Errorf("training metric %s = %v", m.Metric, m.Value)
				}
			}
			for _, name := range c.undefined {
				if !nan[name] {
					t.Errorf("validation %s is not NaN (undefined) at the last epoch; NaN: %v", name, nan)
				}
			}
			for _, r := range runRows(t, sum.Dir) {
				for _, name := range c.undefined {
					if v, ok := (results.Run{RunInfo: r}).Final("validation/" + name); ok {
						t.Errorf("final validation/%s = %v in the runs table; want null", name, v)
					}
				}
				if _, ok := (results.Run{RunInfo: r}).Final("validation/loss"); !ok {
					t.Errorf("final validation/loss missing: %s", r.FinalMetrics)
				}
			}
		})
	}
}

// A one-sample validation set, on which the validation FVU is undefined for every run,
// is refused before anything is written (issue 23), naming the key.
func TestAOneSampleValidationSetIsRefusedBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	varied := filepath.Join(dir, "varied.npy")
	writeNPYOf(t, varied, 40, 6, func(i, j int) float32 { return float32((i*7+j*3)%11) / 10 })
	out := t.TempDir()
	_, err := RunFile(context.Background(), writeSpec(t, fmt.Sprintf(`name: one-row
dataset: {name: npy, path: %s, max_validation_samples: 1}
model:
  kind: sae
  sae: {latents: 8, activation: topk, k: 2}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 8}
`, varied)), opts(out))
	if err == nil || !strings.Contains(err.Error(), "dataset.max_validation_samples") || !strings.Contains(err.Error(), "at least 2") {
		t.Fatalf("err = %v; want a refusal naming dataset.max_validation_samples and its minimum", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the refused spec wrote %d entries into the results folder", len(entries))
	}
}
