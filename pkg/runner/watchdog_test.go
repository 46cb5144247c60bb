package runner

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/results"
)

// twoRuns trains two runs, one group each, with the first epoch of each group written
// before the stall can strike (the hook lets a group's first call through).
const twoRuns = `name: stall
dataset: {name: digits, max_train_samples: 200, max_validation_samples: 60}
model:
  encoder: [{units: 12, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: bce
optimizer: {name: sgd, learning_rate: 0.1}
train: {epochs: 3, batch_size: 50}
sweep:
  method: grid
  parameters:
    optimizer.learning_rate: {values: [0.1, 0.2]}
`

// stallFirstGroup makes the training of the sweep's first group block for good once it
// has reported progress after calls (a hung backend). The blocked goroutine is never
// released, as a hung backend's is not (were it released, it would go on training and
// call a later test's hook). It returns the id of the stalled run (filled at the
// group's first report).
func stallFirstGroup(t *testing.T, after int) func() string {
	var mu sync.Mutex
	var first string
	calls := 0
	hook := func(ids []string) {
		mu.Lock()
		if first == "" {
			first = ids[0]
		}
		stall := ids[0] == first && calls >= after
		calls++
		mu.Unlock()
		if stall {
			select {}
		}
	}
	stallHook.Store(&hook)
	t.Cleanup(func() { stallHook.Store(nil) })
	return func() string { mu.Lock(); defer mu.Unlock(); return first }
}

func runRows(t *testing.T, dir string) map[string]results.RunInfo {
	t.Helper()
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sw.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]results.RunInfo{}
	for _, r := range runs {
		out[r.RunID] = r.RunInfo
	}
	return out
}

// A group whose training stops making progress is failed after the stall limit, with
// a goroutine dump naming where it stood in the log; the sweep goes on with the next
// group, and --resume reruns the stalled run.
func TestWatchdogFailsAHungGroupWithAGoroutineDumpAndTheSweepGoesOn(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, twoRuns)
	stalled := stallFirstGroup(t, 5) // 4 steps an epoch: hangs in the second epoch
	o := opts(out)
	var log bytes.Buffer
	o.Log, o.StallTimeout = &log, 300*time.Millisecond
	start := time.Now()
	sum, err := RunFile(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Completed != 1 {
		t.Fatalf("summary %+v; want 1 failed (hung) and 1 completed\n%s", sum, log.String())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the sweep took %v with a 300ms stall limit", d)
	}
	l := log.String()
	for _, want := range []string{"watchdog: no progress for", "--- goroutines ---", "stallFirstGroup", "runner.(*observer).Progress"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	rows := runRows(t, sum.Dir)
	hung := rows[stalled()]
	if hung.Status != results.StatusFailed || !strings.Contains(hung.Message, "hung") || hung.EpochsCompleted != 1 {
		t.Errorf("stalled run: status %q, message %q, %d epochs; want failed, hung, 1 epoch", hung.Status, hung.Message, hung.EpochsCompleted)
	}
	// Like any failed run, the hung one keeps no rows (its epochs are no result); the
	// other run's are all there.
	perRun := map[string]int{}
	for _, m := range readMetrics(t, sum.Dir) {
		perRun[m.RunID]++
	}
	if perRun[stalled()] != 0 || len(perRun) != 1 {
		t.Errorf("metrics rows per run %v; want only the completed run's", perRun)
	}

	stallHook.Store(nil)
	o.Resume, o.Log = true, &bytes.Buffer{}
	sum, err = RunFile(context.Background(), path, o)
	if err != nil || sum.Completed != 1 || sum.Skipped != 1 {
		t.Fatalf("--resume: %+v %v; want the hung run rerun and the other skipped", sum, err)
	}
	if st := runRows(t, sum.Dir)[stalled()]; st.Status != results.StatusCompleted || st.EpochsCompleted != 3 {
		t.Errorf("after --resume the stalled run is %q with %d epochs", st.Status, st.EpochsCompleted)
	}
}

// An interrupt while training is hung ("finishing the current epoch..." that never
// finishes) ends the sweep within the stall limit: the run is recorded interrupted (so
// --resume reruns it) and no further group starts.
func TestInterruptDuringAHangEndsTheSweep(t *testing.T) {
	out := t.TempDir()
	stalled := stallFirstGroup(t, 1)
	o := opts(out)
	var log bytes.Buffer
	o.Log, o.StallTimeout = &log, 400*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for stalled() == "" {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	defer cancel()
	sum, err := RunFile(ctx, writeSpec(t, twoRuns), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interrupt != 1 || sum.Completed+sum.Failed != 0 {
		t.Fatalf("summary %+v; want only the hung run, interrupted\n%s", sum, log.String())
	}
	if st := runRows(t, sum.Dir)[stalled()]; st.Status != results.StatusInterrupted || !strings.Contains(st.Message, "interrupted, then no progress") {
		t.Errorf("hung run recorded %q: %q", st.Status, st.Message)
	}
}

func TestStallTimeoutComesFromOptionsThenTheEnvironment(t *testing.T) {
	for _, c := range []struct {
		opt  time.Duration
		env  string
		want time.Duration
		bad  bool
	}{
		{0, "", DefaultStallTimeout, false},
		{time.Second, "5m", time.Second, false},
		{-1, "5m", 0, false},
		{0, "90s", 90 * time.Second, false},
		{0, "off", 0, false},
		{0, "0", 0, false},
		{0, "ten minutes", 0, true},
		{0, "-5m", 0, true},
	} {
		t.Setenv(StallTimeoutEnv, c.env)
		got, err := stallTimeout(c.opt)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("option %v, $%s=%q: %v %v; want %v (error: %v)", c.opt, StallTimeoutEnv, c.env, got, err, c.want, c.bad)
		} else if c.bad && !strings.Contains(err.Error(), StallTimeoutEnv) {
			t.Errorf("error does not name the variable: %v", err)
		}
	}
}
