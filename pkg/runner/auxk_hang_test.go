package runner

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"
)

// auxkSpec is issue 23's hanging setting scaled down: TopK with AuxK active from the
// second step (dead_after one batch), learning rate 1e-2, and matrix products just
// large enough (64 × 64 × 1024 multiply-adds) for the go backend to spread them over
// its worker pool, which is where gomlx/compute v0.1.2 deadlocked. At this size the
// deadlock is rare (0 hangs in 20 runs measured with the old setting): this test
// guards the whole path, and pkg/backend's gopool_test.go reproduces the deadlock
// itself (every time) and checks the setting that prevents it.
const auxkSpec = `name: auxk-hang
dataset:
  name: synthetic
  synthetic: {dim: 64, features: 256, samples: 320, active: 4, seed: 0}
model:
  kind: sae
  sae: {latents: 1024, activation: topk, k: 4, aux_coefficient: 0.03125, dead_after: 64}
loss: mse_sum
optimizer: {name: adam, learning_rate: 1.0e-2}
train: {epochs: 1, batch_size: 64, seed: 1}
sweep:
  method: grid
  parameters:
    model.sae.k: {values: [4]}
  seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
`

// Twenty SAE runs with AuxK on two cores, one group each, on the go backend as the
// runner opens it: none may hang. A hang is caught by the watchdog (the run is then
// failed, not completed), so the test ends either way.
func TestAuxKRunsDoNotHangTheGoBackendOnTwoCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	o := opts(t.TempDir())
	var log bytes.Buffer
	o.Log, o.StallTimeout = &log, 20*time.Second
	start := time.Now()
	sum, err := RunFile(context.Background(), writeSpec(t, auxkSpec), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Completed != 20 {
		t.Fatalf("%d of 20 runs completed (%d failed: hung) in %v\n%s", sum.Completed, sum.Failed, time.Since(start), log.String())
	}
	auxk := map[string]bool{} // runs whose AuxK loss was ever positive: the path ran
	for _, m := range readMetrics(t, sum.Dir) {
		if m.Metric == "penalty/auxk/encoder.0" && m.Value > 0 {
			auxk[m.RunID] = true
		}
	}
	if len(auxk) != 20 {
		t.Errorf("AuxK was active in %d of 20 runs; the setting no longer exercises it", len(auxk))
	}
	t.Logf("20 runs in %v", time.Since(start))
}
