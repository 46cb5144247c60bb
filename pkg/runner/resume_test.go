package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/results"
)

// resumeSpec is a grouped sweep that records every table and checkpoints every epoch.
const resumeSpec = `name: resume
dataset: {name: digits, max_train_samples: 1000, max_validation_samples: 100}
model:
  encoder: [{units: 16, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 8, batch_size: 20}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 1}
record: {activations: {samples: 8, every: 1}, reconstructions: {samples: 4, every: 3}, weights: {every: 2}, checkpoints: {every: 1}}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.1, 1]}
    train.input_noise: {values: [0, 0.1]}
  seeds: [1]
`

// tables reads every table of a sweep folder as sorted text lines, one per row, with
// the columns that measure time (elapsed, wall, start, end, compile) left out, and
// the runs' resumed_from_epoch apart.
func tables(t *testing.T, dir string) (map[string][]string, map[string]*int32) {
	t.Helper()
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	add := func(table string, rows []string, err error) {
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		sort.Strings(rows)
		out[table] = rows
	}
	ms, err := sw.Metrics(results.Filter{})
	var rows []string
	for _, m := range ms {
		m.ElapsedSeconds = 0
		rows = append(rows, fmt.Sprintf("%+v", m))
	}
	add("metrics", rows, err)
	us, err := sw.Units(results.Filter{})
	rows = nil
	for _, u := range us {
		rows = append(rows, fmt.Sprintf("%+v", u))
	}
	add("units", rows, err)
	as, err := sw.Activations(results.Filter{})
	rows = nil
	for _, a := range as {
		rows = append(rows, fmt.Sprintf("%+v", a))
	}
	add("activations", rows, err)
	is, err := sw.Reconstructions(results.Filter{})
	rows = nil
	for _, i := range is {
		rows = append(rows, fmt.Sprintf("%+v", i))
	}
	add("reconstructions", rows, err)
	ws, err := sw.Weights(results.Filter{})
	rows = nil
	for _, w := range ws {
		rows = append(rows, fmt.Sprintf("%+v", w))
	}
	add("weights", rows, err)
	runs, err := sw.Runs(results.Filter{})
	rows = nil
	resumed := map[string]*int32{}
	for _, r := range runs {
		rows = append(rows, fmt.Sprintf("%s %s %d %s %s", r.RunID, r.Status, r.EpochsCompleted, r.FinalMetrics, r.Config))
		resumed[r.RunID] = r.ResumedFromEpoch
	}
	add("runs", rows, err)
	return out, resumed
}

func sameTables(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for table, w := range want {
		g := got[table]
		if len(g) != len(w) {
			t.Errorf("%s: %d rows, uninterrupted %d", table, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s: row differs from the uninterrupted run's:\n got  %.300s\n want %.300s", table, g[i], w[i])
				break
			}
		}
	}
}

// waitForCheckpoint waits until some run of the sweep in dir has a checkpoint after at
// least epoch epochs, or the process ends (false).
func waitForCheckpoint(dir string, epoch int, done <-chan error) bool {
	return waitFor(dir, func(s *checkpoint.State) bool { return s.Epoch >= epoch }, done)
}

// waitFor waits until some run of the sweep in dir has a checkpoint that ok accepts,
// or the process ends (false).
func waitFor(dir string, ok func(*checkpoint.State) bool, done <-chan error) bool {
	for {
		select {
		case <-done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
		files, _ := filepath.Glob(filepath.Join(dir, CheckpointsDir, "*.ckpt"))
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil {
				if s, err := checkpoint.Parse(f, data); err == nil && ok(s) {
					return true
				}
			}
		}
	}
}

func reference(t *testing.T, spec string) (map[string][]string, map[string]*int32) {
	t.Helper()
	ref := t.TempDir()
	if sum, err := RunFile(context.Background(), spec, Options{Out: ref, Backend: "go", GroupSize: 2, Log: &bytes.Buffer{}}); err != nil || sum.Completed != 4 {
		t.Fatalf("reference sweep: %+v %v", sum, err)
	}
	return tables(t, filepath.Join(ref, "resume"))
}

// SIGKILL a grouped sweep at random moments after its runs have checkpoints, resume it
// each time, and every table ends bit-identical to an uninterrupted sweep's, with the
// runs that resumed saying from which epoch, and no checkpoint left.
func TestSIGKILLedSweepResumesFromCheckpointsBitIdentically(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a runner several times")
	}
	sigkillsResumeBitIdentically(t, writeSpec(t, resumeSpec))
}

// sigkillsResumeBitIdentically runs the sweep of spec (named resume, 4 runs, in groups
// of 2) uninterrupted, then SIGKILLs it at random moments after its runs have
// checkpoints after an epoch and resumes it each time: every table must end
// bit-identical, and some run must have resumed after an epoch.
func sigkillsResumeBitIdentically(t *testing.T, spec string) {
	t.Helper()
	sigkillsResumeBitIdenticallyFrom(t, spec, func(s *checkpoint.State) bool { return s.Epoch >= 1 }, 1)
}

// sigkillsResumeBitIdenticallyFrom is sigkillsResumeBitIdentically with the kills after
// a checkpoint that ready accepts, and at least one run resumed from epoch minFrom or
// later (its runs row's resumed_from_epoch; 0: inside epoch 1).
func sigkillsResumeBitIdenticallyFrom(t *testing.T, spec string, ready func(*checkpoint.State) bool, minFrom int32) {
	t.Helper()
	want, wantResumed := reference(t, spec)
	for id, r := range wantResumed {
		if r != nil {
			t.Errorf("uninterrupted run %s: resumed_from_epoch %d, want null", id, *r)
		}
	}
	out := t.TempDir()
	dir := filepath.Join(out, "resume")
	kills := 0
	for attempt := 0; kills < 4 && attempt < 20; attempt++ {
		cmd := child(spec, out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if waitFor(dir, ready, done) {
			time.Sleep(time.Duration(attempt*37%150) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err != nil && strings.Contains(err.Error(), "killed") {
				kills++
			}
		}
	}
	var log bytes.Buffer
	cmd := child(spec, out)
	cmd.Stderr = &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("final resume: %v\n%s", err, log.String())
	}
	got, resumed := tables(t, dir)
	sameTables(t, got, want)
	n := 0
	for _, r := range resumed {
		if r != nil && *r >= minFrom {
			n++
		}
	}
	if kills == 0 || n == 0 {
		t.Errorf("%d kills, %d runs resumed from a checkpoint: the test saw no resume", kills, n)
	}
	if damage, err := results.Verify(dir); err != nil || len(damage) != 0 {
		t.Errorf("verify: %v %v", damage, err)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointsDir)); err == nil {
		t.Errorf("checkpoints/ left after the sweep finished")
	}
	t.Logf("%d SIGKILLs, %d runs resumed from a checkpoint", kills, n)
}

// killAfter starts the sweep and SIGKILLs it once a run has a checkpoint after epoch
// epochs; it returns the runs left with checkpoints.
func killAfter(t *testing.T, spec, out string, epoch int) []string {
	t.Helper()
	cmd := child(spec, out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if !waitForCheckpoint(filepath.Join(out, "resume"), epoch, done) {
		t.Fatal("the sweep ended before a checkpoint")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	files, _ := filepath.Glob(filepath.Join(out, "resume", CheckpointsDir, "*.ckpt"))
	var ids []string
	for _, f := range files {
		ids = append(ids, strings.TrimSuffix(filepath.Base(f), ".ckpt"))
	}
	sort.Strings(ids)
	return ids
}

// Damaged checkpoints, checkpoints of another run or of another configuration, and
// garbage are refused, each named in the log with its reason; the run resumes from the
// previous good checkpoint or from epoch 1, and the tables still equal an
// uninterrupted sweep's.
func TestHostileCheckpointsAreRefusedByNameAndTheRunRestartsFromAGoodOne(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a runner")
	}
	spec := writeSpec(t, resumeSpec)
	want, _ := reference(t, spec)
	resume := func(out string) (string, map[string]*int32) {
		var log bytes.Buffer
		if _, err := RunFile(context.Background(), spec, Options{Out: out, Backend: "go", GroupSize: 2, Resume: true, Log: &log}); err != nil {
			t.Fatalf("resume: %v\n%s", err, log.String())
		}
		got, resumed := tables(t, filepath.Join(out, "resume"))
		sameTables(t, got, want)
		return log.String(), resumed
	}

	t.Run("all refused: from epoch 1", func(t *testing.T) {
		out := t.TempDir()
		ids := killAfter(t, spec, out, 3)
		if len(ids) != 2 {
			t.Fatalf("checkpoints of %v, want one group of 2", ids)
		}
		a, b := ckptPath(filepath.Join(out, "resume"), ids[0]), ckptPath(filepath.Join(out, "resume"), ids[1])
		bData, _ := os.ReadFile(b)
		st, err := checkpoint.Parse(b, bData)
		if err != nil {
			t.Fatal(err)
		}
		st.ConfigHash = checkpoint.ConfigHash([]byte("another spec"))
		otherSpec, _ := checkpoint.Encode(st)
		prevB, _ := os.ReadFile(checkpoint.PreviousPath(b))
		for path, data := range map[string][]byte{
			a:                          bData, // run b's
			checkpoint.PreviousPath(a): []byte("garbage, not a checkpoint"),
			b:                          otherSpec,
			checkpoint.PreviousPath(b): prevB[:len(prevB)/2],
		} {
			if err := os.WriteFile(path, data, 0o666); err != nil {
				t.Fatal(err)
			}
		}
		log, resumed := resume(out)
		for _, w := range []string{
			a + ": belongs to run " + ids[1],
			checkpoint.PreviousPath(a) + ": not a saerun checkpoint",
			b + ": written for another configuration",
			checkpoint.PreviousPath(b) + ": damaged or truncated",
		} {
			if !strings.Contains(log, w) {
				t.Errorf("the log does not say %q:\n%s", w, log)
			}
		}
		for _, id := range ids {
			if resumed[id] != nil {
				t.Errorf("run %s: resumed_from_epoch %d, want null (restarted from epoch 1)", id, *resumed[id])
			}
		}
	})
	t.Run("newest truncated: from the previous", func(t *testing.T) {
		out := t.TempDir()
		ids := killAfter(t, spec, out, 3)
		prevs := map[string]int{} // each resumes from its previous checkpoint (the same epoch but for a kill between the two)
		for _, id := range ids {
			p := ckptPath(filepath.Join(out, "resume"), id)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-100], 0o666)
			prev, _ := os.ReadFile(checkpoint.PreviousPath(p))
			s, err := checkpoint.Parse(p, prev)
			if err != nil {
				t.Fatal(err)
			}
			prevs[id] = s.Epoch
		}
		log, resumed := resume(out)
		for _, id := range ids {
			p := ckptPath(filepath.Join(out, "resume"), id)
			if !strings.Contains(log, p+": damaged or truncated") {
				t.Errorf("the log does not name %s:\n%s", p, log)
			}
			if r := resumed[id]; r == nil || int(*r) != prevs[id] {
				t.Errorf("run %s: resumed_from_epoch %v, want %d", id, fmtEpoch(r), prevs[id])
			}
		}
	})
}

func fmtEpoch(e *int32) string {
	if e == nil {
		return "null"
	}
	return fmt.Sprint(*e)
}

// A kill between two members' checkpoints of one epoch leaves them an epoch apart:
// both resume from the epoch they share, as one group; without a shared epoch each
// resumes from its newest, and a run without checkpoints from epoch 1.
func TestGroupResumesFromTheLatestEpochEveryMemberHas(t *testing.T) {
	at := func(epochs ...int) []*resumePoint {
		var out []*resumePoint
		for _, e := range epochs {
			out = append(out, &resumePoint{state: &checkpoint.State{Epoch: e}})
		}
		return out
	}
	epochOf := func(p *resumePoint) int {
		if p == nil {
			return 0
		}
		return p.state.Epoch
	}
	for _, c := range []struct {
		cands [][]*resumePoint
		want  []int
	}{
		{[][]*resumePoint{at(4, 3), at(3, 2)}, []int{3, 3}},
		{[][]*resumePoint{at(4, 3), at(4, 3)}, []int{4, 4}},
		{[][]*resumePoint{at(4, 3), at(3)}, []int{3, 3}},
		{[][]*resumePoint{at(4, 3), nil}, []int{4, 0}},
		{[][]*resumePoint{at(5, 4), at(2)}, []int{5, 2}},
		{[][]*resumePoint{nil, nil}, []int{0, 0}},
	} {
		got := resumePoints(c.cands)
		for i := range got {
			if epochOf(got[i]) != c.want[i] {
				t.Errorf("%v: run %d resumes after %d, want %d", c.want, i, epochOf(got[i]), c.want[i])
			}
		}
	}
}

// Checkpoints inside an epoch are points of their own, (epochs complete, steps into
// the next): a kill between two members' checkpoints at one chunk boundary leaves
// them a point apart, and both resume from the latest point they share, never from
// the same epoch at different steps.
func TestGroupResumesFromTheLatestPointInsideAnEpochEveryMemberHas(t *testing.T) {
	at := func(points ...[2]int) []*resumePoint {
		var out []*resumePoint
		for _, p := range points {
			out = append(out, &resumePoint{state: &checkpoint.State{Epoch: p[0], Steps: p[1]}})
		}
		return out
	}
	pointOf := func(p *resumePoint) [2]int {
		if p == nil {
			return [2]int{}
		}
		return p.at()
	}
	for _, c := range []struct {
		cands [][]*resumePoint
		want  [][2]int
	}{
		{[][]*resumePoint{at([2]int{0, 18}, [2]int{0, 9}), at([2]int{0, 9})}, [][2]int{{0, 9}, {0, 9}}},
		{[][]*resumePoint{at([2]int{1, 0}, [2]int{0, 27}), at([2]int{0, 27}, [2]int{0, 18})}, [][2]int{{0, 27}, {0, 27}}},
		{[][]*resumePoint{at([2]int{2, 35}, [2]int{2, 0}), at([2]int{2, 0}, [2]int{1, 70})}, [][2]int{{2, 0}, {2, 0}}},
		{[][]*resumePoint{at([2]int{0, 18}, [2]int{0, 9}), at([2]int{0, 35}, [2]int{0, 27})}, [][2]int{{0, 18}, {0, 35}}},
	} {
		got := resumePoints(c.cands)
		for i := range got {
			if pointOf(got[i]) != c.want[i] {
				t.Errorf("%v: run %d resumes at %v, want %v", c.want, i, pointOf(got[i]), c.want[i])
			}
		}
	}
}
