package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const slowSpec = `name: slow
dataset: {name: digits}
model:
  encoder: [{units: 64, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam}
train: {epochs: 50, batch_size: 4, seed: 1}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 1}
sweep: {method: grid, seeds: [1, 2, 3]}
`

// startSlowSweep starts the command on a sweep of three one-at-a-time runs
// and returns once the first epoch has been reported.
func startSlowSweep(t *testing.T) (*exec.Cmd, string, *strings.Builder) {
	t.Helper()
	dir := t.TempDir()
	bin := binary // built once by TestMain
	spec := filepath.Join(dir, "slow.yaml")
	os.WriteFile(spec, []byte(slowSpec), 0o644)
	out := filepath.Join(dir, "results")
	cmd := exec.Command(bin, "--backend", "go", "--group-size", "1", "--out", out, spec)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := &strings.Builder{}
	started := make(chan bool)
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "epoch 1/50") {
				once = true
				started <- true
			}
		}
		close(started)
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no epoch reported:\n%s", log.String())
	}
	return cmd, filepath.Join(out, "slow"), log
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestFirstInterruptFinishesTheEpochAndRecordsTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	cmd, dir, log := startSlowSweep(t)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := exitCode(err); code != 3 {
		t.Errorf("exit code %d, want 3 (a run did not finish)\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), "finishing the current epoch") || !strings.Contains(log.String(), "interrupted") {
		t.Errorf("no message about the interrupt:\n%s", log.String())
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "*.parquet"))
	metrics, _ := filepath.Glob(filepath.Join(dir, "metrics", "*.parquet"))
	if len(runs) != 1 || len(metrics) != 1 {
		t.Errorf("the interrupted run is recorded with its finished epochs: %d runs, %d metrics files", len(runs), len(metrics))
	}
	hidden, _ := filepath.Glob(filepath.Join(dir, "*", ".*"))
	if len(hidden) != 0 {
		t.Errorf("temporary files left: %v", hidden)
	}
}

func TestSecondInterruptExitsAtOnceLosingNothingDone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	cmd, dir, log := startSlowSweep(t)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	err := cmd.Wait()
	if code := exitCode(err); code != 130 {
		t.Errorf("exit code %d, want 130\n%s", code, log.String())
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second interrupt took %v to exit", time.Since(start))
	}
	// Nothing was complete: no table file is visible (temporary ones are hidden).
	for _, table := range []string{"runs", "metrics", "units", "activations"} {
		files, _ := filepath.Glob(filepath.Join(dir, table, "*.parquet"))
		if len(files) != 0 {
			t.Errorf("%s: unfinished files visible: %v", table, files)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "spec.yaml")); err != nil {
		t.Errorf("spec.yaml lost: %v", err)
	}
}
