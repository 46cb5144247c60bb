package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/results"
)

// TestMain doubles as the runner process of the crash tests: with
// SAERUN_TEST_CHILD_SPEC set, the test binary runs that sweep (with --resume) and exits.
func TestMain(m *testing.M) {
	if path := os.Getenv("SAERUN_TEST_CHILD_SPEC"); path != "" {
		o := Options{Out: os.Getenv("SAERUN_TEST_CHILD_OUT"), Backend: "go", Resume: true, GroupSize: 2, Log: os.Stderr}
		if _, err := RunFile(context.Background(), path, o); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashSpec = `name: crash
dataset: {name: digits, max_train_samples: 1000, max_validation_samples: 100}
model:
  encoder: [{units: 16, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 6, batch_size: 20}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 1}
record: {activations: {samples: 8}}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.1, 0.3, 1, 3]}
  seeds: [1, 2, 3]
`

func child(spec, out string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SAERUN_TEST_CHILD_SPEC="+spec, "SAERUN_TEST_CHILD_OUT="+out)
	return cmd
}

// finalMetrics maps run id → "split/metric@epoch" → value, from the metrics table.
func finalMetrics(t *testing.T, dir string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, r := range readMetrics(t, dir) {
		if out[r.RunID] == nil {
			out[r.RunID] = map[string]float64{}
		}
		key := fmt.Sprintf("%s/%s@%d", r.Split, r.Metric, r.Epoch)
		if _, dup := out[r.RunID][key]; dup {
			t.Errorf("run %s: %s recorded twice", r.RunID, key)
		}
		out[r.RunID][key] = r.Value
	}
	return out
}

func TestSweepSurvivesRepeatedSIGKILLAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a runner 20 times")
	}
	spec := writeSpec(t, crashSpec)
	reference := t.TempDir()
	if sum, err := RunFile(context.Background(), spec, Options{Out: reference, Backend: "go", GroupSize: 2, Log: &bytes.Buffer{}}); err != nil || sum.Completed != 12 {
		t.Fatalf("reference sweep: %+v %v", sum, err)
	}

	want := finalMetrics(t, filepath.Join(reference, "crash"))
	out := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	kills, sweeps := 0, 0
	for attempt := 0; kills < 20 && attempt < 300; attempt++ {
		cmd := child(spec, out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		switch {
		case err != nil && strings.Contains(err.Error(), "killed"):
			kills++
		case err == nil:
			// The sweep finished between kills: check it and start a fresh one, so that
			// every kill lands on unfinished work.
			checkSweep(t, filepath.Join(out, "crash"), want)
			sweeps++
			out = t.TempDir()
		default:
			t.Fatalf("runner failed: %v", err)
		}
	}
	if kills < 20 {
		t.Fatalf("only %d kills landed mid-run", kills)
	}
	var log bytes.Buffer
	cmd := child(spec, out)
	cmd.Stderr = &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("final resume: %v\n%s", err, log.String())
	}
	checkSweep(t, filepath.Join(out, "crash"), want)
	t.Logf("%d SIGKILLs survived over %d sweeps", kills, sweeps+1)
}

// checkSweep asserts that every run of the sweep in dir is complete exactly once, no
// temporary file is left, and the metrics equal the uninterrupted reference.
func checkSweep(t *testing.T, dir string, want map[string]map[string]float64) {
	t.Helper()
	statuses, err := statusesOf(dir)
	if err != nil || len(statuses) != 12 {
		t.Fatalf("statuses: %v %v", statuses, err)
	}
	for id, st := range statuses {
		if st != "completed" {
			t.Errorf("run %s: %s", id, st)
		}
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".") && strings.HasSuffix(info.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	// Kills leave nothing damaged, and no lock file once the runners are gone.
	if damage, err := results.Verify(dir); err != nil || len(damage) != 0 {
		t.Errorf("after the kills: %v %v", damage, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "claims")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("claims/ left after the sweep (%v)", err)
	}
	got := finalMetrics(t, dir)
	if len(got) != 12 {
		t.Fatalf("%d runs in metrics, want 12", len(got))
	}
	for id, metrics := range want {
		if len(got[id]) != len(metrics) {
			t.Errorf("run %s: %d metric rows, want %d", id, len(got[id]), len(metrics))
		}
		for k, v := range metrics {
			// Groups can form differently after a restart; a model's numbers do not
			// depend on its group beyond float rounding (see the train tests).
			if g := got[id][k]; math.Abs(g-v) > 1e-5*math.Max(1, math.Abs(v)) {
				t.Errorf("run %s %s: %v after kills, %v uninterrupted", id, k, g, v)
			}
		}
	}
}

func TestTwoRunnersOnOneFolderNeverTrainTheSameRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two processes")
	}
	spec := writeSpec(t, crashSpec)
	out := t.TempDir()
	logs := make([]bytes.Buffer, 2)
	var wg sync.WaitGroup
	for i := range logs {
		wg.Add(1)
		cmd := child(spec, out)
		cmd.Stderr = &logs[i]
		go func() {
			defer wg.Done()
			if err := cmd.Run(); err != nil {
				t.Errorf("runner %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	trained := map[string]int{}
	for i := range logs {
		seen := map[string]bool{}
		for _, line := range strings.Split(logs[i].String(), "\n") {
			f := strings.Fields(line)
			// A run's line when it ends (and while it trains): "run i/n ID completed ...".
			if len(f) > 3 && f[0] == "run" && (f[3] == "epoch" || f[3] == "completed") {
				seen[f[2]] = true
			}
		}
		for id := range seen {
			trained[id]++
		}
	}
	if len(trained) != 12 {
		t.Errorf("%d runs trained, want 12", len(trained))
	}
	for id, n := range trained {
		if n != 1 {
			t.Errorf("run %s trained by %d runners", id, n)
		}
	}
	statuses, _ := statusesOf(filepath.Join(out, "crash"))
	if len(statuses) != 12 {
		t.Errorf("%d runs recorded, want 12", len(statuses))
	}
}
