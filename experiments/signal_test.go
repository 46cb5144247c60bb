package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
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

// slowSweep is the command running a slow sweep, with its stderr collected.
type slowSweep struct {
	cmd  *exec.Cmd
	dir  string        // results/slow
	done chan struct{} // closed when stderr reached EOF
	mu   sync.Mutex
	log  strings.Builder
}

// logText is what the command wrote on stderr so far.
func (p *slowSweep) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait lets the stderr reader finish, then waits for the command: os/exec documents
// calling Wait before all reads from StderrPipe have completed as incorrect.
func (p *slowSweep) wait() error {
	<-p.done
	return p.cmd.Wait()
}

// startSlowSweep starts the command on a sweep of three one-at-a-time runs
// and returns once the first epoch has been reported.
func startSlowSweep(t *testing.T) *slowSweep {
	t.Helper()
	dir := t.TempDir()
	spec := filepath.Join(dir, "slow.yaml")
	if err := os.WriteFile(spec, []byte(slowSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	p := &slowSweep{dir: filepath.Join(out, "slow"), done: make(chan struct{})}
	p.cmd = exec.Command(binary, "--backend", "go", "--group-size", "1", "--out", out, spec) // built once by TestMain
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	// The first epoch is reported in the live metrics table (a log gets a line per
	// run when it ends, not per epoch).
	deadline := time.Now().Add(60 * time.Second)
	for {
		if files, _ := filepath.Glob(filepath.Join(p.dir, "metrics", "*.parquet")); len(files) > 0 {
			break
		}
		select {
		case <-p.done:
			p.cmd.Wait()
			t.Fatalf("the command ended before its first epoch:\n%s", p.logText())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			p.wait()
			t.Fatalf("no epoch reported:\n%s", p.logText())
		}
	}
	return p
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
	p := startSlowSweep(t)
	dir := p.dir
	p.cmd.Process.Signal(syscall.SIGINT)
	err := p.wait()
	log := p.logText()
	if code := exitCode(err); code != 3 {
		t.Errorf("exit code %d, want 3 (a run did not finish)\n%s", code, log)
	}
	if !strings.Contains(log, "finishing the current epoch") || !strings.Contains(log, "interrupted") {
		t.Errorf("no message about the interrupt:\n%s", log)
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
	p := startSlowSweep(t)
	dir := p.dir
	p.cmd.Process.Signal(syscall.SIGINT)
	// The second interrupt only once the command has taken the first: two signals
	// sent before the process takes either are one pending signal to the kernel.
	for wait := time.Now().Add(10 * time.Second); !strings.Contains(p.logText(), "interrupt: finishing") && time.Now().Before(wait); {
		time.Sleep(2 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	err := p.wait()
	if code := exitCode(err); code != 130 {
		t.Errorf("exit code %d, want 130\n%s", code, p.logText())
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second interrupt took %v to exit", time.Since(start))
	}
	// Nothing was complete: no run is recorded. The running run's finished epochs stay
	// readable (live tables), each once, in whole files; --resume replaces them.
	if files, _ := filepath.Glob(filepath.Join(dir, "runs", "*.parquet")); len(files) != 0 {
		t.Errorf("runs: an unfinished run is recorded: %v", files)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "metrics", "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("metrics: %v, want the running run's file", files)
	}
	rows, err := parquet.ReadFile[results.MetricRow](files[0])
	if err != nil || len(rows) == 0 {
		t.Fatalf("the running run's metrics file: %d rows, %v", len(rows), err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		key := fmt.Sprint(r.Epoch, r.Split, r.Metric)
		if seen[key] {
			t.Errorf("row %s twice", key)
		}
		seen[key] = true
	}
	if _, err := os.Stat(filepath.Join(dir, "spec.yaml")); err != nil {
		t.Errorf("spec.yaml lost: %v", err)
	}
}
