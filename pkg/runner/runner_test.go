package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

const sweepSpec = `name: small
dataset: {name: digits, max_train_samples: 200, max_validation_samples: 60}
model:
  encoder: [{units: 12, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: bce
optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}
train: {epochs: 2, batch_size: 50}
regularizers:
  - {kind: l1_activity, layer: encoder.0, weight: 0.001}
record: {activations: {samples: 5}}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0, 0.01]}
  seeds: [1, 2]
`

func writeSpec(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func opts(out string) Options {
	return Options{Out: out, Backend: "go", Log: &bytes.Buffer{}, GroupSize: 1}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestDryRunListsRunsAndWritesNothing(t *testing.T) {
	out := t.TempDir()
	o := opts(out)
	o.DryRun = true
	var log, stdout bytes.Buffer
	o.Log, o.Stdout = &log, &stdout
	sum, err := RunFile(context.Background(), writeSpec(t, sweepSpec), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Runs != 4 || strings.Count(stdout.String(), "\n") != 4 || strings.Count(stdout.String(), "seed=") != 4 ||
		!strings.Contains(stdout.String(), `"regularizers.0.weight":0.01`) {
		t.Errorf("dry run printed on stdout:\n%s", stdout.String())
	}
	if !strings.Contains(log.String(), "4 runs") || strings.Contains(log.String(), "seed=") {
		t.Errorf("dry run logged:\n%s", log.String())
	}
	if n := countFiles(t, out); n != 0 {
		t.Errorf("dry run wrote %d files", n)
	}
}

// Results whose ids are none of the spec's runs (an older id scheme) are reported, not
// silently ignored.
func TestRunsFromAnotherIDSchemeAreReported(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	sw, err := writer.OpenSweep(out, "small", []byte(sweepSpec))
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.RecordFailed(sweep.Run{ID: "0123456789ab"}, "old", writer.Backend{Name: "go"}); err != nil {
		t.Fatal(err)
	}
	o := opts(out)
	o.Resume = true
	var log bytes.Buffer
	o.Log = &log
	if _, err := RunFile(context.Background(), path, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "holds 1 run(s) that are none of this spec's runs") {
		t.Errorf("log lacks the note:\n%s", log.String())
	}
}

func TestBadSpecIsAUsageErrorAndWritesNothing(t *testing.T) {
	out := t.TempDir()
	bad := strings.Replace(sweepSpec, "weight: 0.001", "weight: -1", 1)
	_, err := RunFile(context.Background(), writeSpec(t, bad), opts(out))
	var usage *UsageError
	var specErr spec.Errors
	if !errors.As(err, &usage) || !errors.As(err, &specErr) {
		t.Fatalf("want a usage error from the spec, got %v", err)
	}
	if n := countFiles(t, out); n != 0 {
		t.Errorf("bad spec wrote %d files", n)
	}
}

// readMetrics reads a sweep's metrics table with the results reader.
func readMetrics(t *testing.T, dir string) results.Metrics {
	t.Helper()
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := sw.Metrics(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func tableFiles(dir, table, pattern string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, table, pattern))
	return files
}

func TestSweepWritesEveryTableAndResumeSkipsDoneRuns(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	sum, err := RunFile(context.Background(), path, opts(out))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Completed != 4 {
		t.Fatalf("summary %+v", sum)
	}
	dir := filepath.Join(out, "small")
	spec, _ := os.ReadFile(filepath.Join(dir, "spec.yaml"))
	if string(spec) != sweepSpec {
		t.Error("spec.yaml is not the spec as given")
	}
	// The sweep completed, so each table is compacted into one part file.
	for _, table := range []string{"runs", "metrics", "units", "activations"} {
		if parts, loose := tableFiles(dir, table, "part-*.parquet"), tableFiles(dir, table, "*.parquet"); len(parts) != 1 || len(loose) != 1 {
			t.Errorf("%s: %d part files of %d files, want 1 of 1", table, len(parts), len(loose))
		}
		if hidden := tableFiles(dir, table, ".*"); len(hidden) != 0 {
			t.Errorf("%s: temporary files left: %v", table, hidden)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".compact*")); len(left) != 0 {
		t.Errorf("compaction left %v", left)
	}
	metrics := readMetrics(t, dir)
	// per run and epoch: train loss, reconstruction, 1 penalty, learning_rate (4) +
	// validation loss, reconstruction, 1 penalty, mean_activation, l0, dead_fraction (6) = 10.
	if len(metrics) != 4*2*10 {
		t.Errorf("metrics rows = %d, want %d", len(metrics), 4*2*10)
	}
	statuses, err := results.ReadStatuses(dir)
	if err != nil || len(statuses) != 4 {
		t.Fatalf("statuses %v %v", statuses, err)
	}
	// Each run records the device it ran on, and that the CPU's kernels are deterministic.
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sw.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Backend != "go" || !strings.Contains(r.Device, "threads") || !r.Deterministic {
			t.Errorf("run %s: backend %q, device %q, deterministic %v", r.RunID, r.Backend, r.Device, r.Deterministic)
		}
	}

	// Running again without --resume refuses; with --resume skips all four.
	if _, err := RunFile(context.Background(), path, opts(out)); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("rerun without --resume: %v", err)
	}
	o := opts(out)
	o.Resume = true
	sum, err = RunFile(context.Background(), path, o)
	if err != nil || sum.Skipped != 4 || sum.Completed != 0 {
		t.Errorf("resume: %+v %v", sum, err)
	}
}

func TestChangedSpecInTheSameFolderIsRefused(t *testing.T) {
	out := t.TempDir()
	o := opts(out)
	o.Shard, o.Shards = 0, 4 // one run is enough
	if _, err := RunFile(context.Background(), writeSpec(t, sweepSpec), o); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(sweepSpec, "epochs: 2", "epochs: 3", 1)
	_, err := RunFile(context.Background(), writeSpec(t, changed), o)
	if !errors.Is(err, writer.ErrSpecChanged) {
		t.Errorf("got %v", err)
	}
}

func TestShardsPartitionTheSweep(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	total := 0
	for i := 0; i < 3; i++ {
		o := opts(out)
		o.Shard, o.Shards = i, 3
		sum, err := RunFile(context.Background(), path, o)
		if err != nil {
			t.Fatal(err)
		}
		total += sum.Completed
	}
	statuses, err := statusesOf(filepath.Join(out, "small"))
	if total != 4 || len(statuses) != 4 || err != nil {
		t.Errorf("3 shards completed %d runs, %d recorded (%v); want 4", total, len(statuses), err)
	}
	// The last shard to end found the sweep complete and compacted it.
	if parts := tableFiles(filepath.Join(out, "small"), "metrics", "*.parquet"); len(parts) != 1 {
		t.Errorf("metrics after the last shard: %v, want one part", parts)
	}
}

// cancelAfterFirstEpoch plays a first Ctrl-C arriving during epoch 1.
type cancelAfterFirstEpoch struct {
	lineProgress
	cancel func()
}

func (p *cancelAfterFirstEpoch) Epoch(k int, e *train.Epoch) { p.cancel() }

func TestInterruptFinishesTheEpochRecordsItAndResumeRerunsIt(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(out)
	o.GroupSize = 2
	o.Progress = &cancelAfterFirstEpoch{lineProgress{w: &bytes.Buffer{}}, cancel}
	sum, err := RunFile(ctx, path, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interrupt != 2 || sum.Completed != 0 || sum.Finished() {
		t.Errorf("first group should be interrupted after epoch 1, second not started: %+v", sum)
	}
	dir := filepath.Join(out, "small")
	statuses, _ := results.ReadStatuses(dir)
	if len(statuses) != 2 {
		t.Errorf("interrupted runs are recorded with their status: %v", statuses)
	}
	if rows := readMetrics(t, dir); len(rows) != 2*10 {
		t.Errorf("the finished epoch of both interrupted runs is kept: %d rows", len(rows))
	}
	o.Resume = true
	o.Progress = nil
	sum, err = RunFile(context.Background(), path, o)
	if err != nil || sum.Completed != 4 || sum.Skipped != 0 {
		t.Errorf("resume re-runs the interrupted runs and runs the rest: %+v %v", sum, err)
	}
	statuses, _ = results.ReadStatuses(dir)
	for id, st := range statuses {
		if st != results.StatusCompleted {
			t.Errorf("run %s: %s after resume", id, st)
		}
	}
	// The interrupted runs continued from the checkpoint written when they stopped.
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sw.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	resumed := 0
	for _, r := range runs {
		if r.ResumedFromEpoch != nil {
			resumed++
			if *r.ResumedFromEpoch != 1 {
				t.Errorf("run %s resumed after epoch %d, want 1", r.RunID, *r.ResumedFromEpoch)
			}
		}
	}
	if resumed != 2 {
		t.Errorf("%d runs resumed from a checkpoint, want the 2 interrupted", resumed)
	}
}

func TestGroupsKeepSweepOrderAndRespectTheSize(t *testing.T) {
	s, src, err := spec.Parse("s.yaml", []byte(sweepSpec))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sweep.Expand(s, src)
	if err != nil {
		t.Fatal(err)
	}
	groups := Groups(runs, func(sweep.Run) int { return 3 })
	// 4 runs, at most 3 a group: two balanced groups of 2, in sweep order.
	if len(groups) != 2 || len(groups[0]) != 2 || groups[0][0].Index != 0 || groups[1][0].Index != 2 {
		t.Errorf("groups %v", groups)
	}
}

func statusesOf(dir string) (map[string]string, error) {
	return results.ReadStatuses(dir)
}

func TestFailingWriteMarksTheRunFailedAndSaysWhy(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	dir := filepath.Join(out, "small")
	os.MkdirAll(dir, 0o755)
	// A file where the metrics folder should be: every metrics write fails, as on a
	// full disk or a read-only folder.
	if err := os.WriteFile(filepath.Join(dir, "metrics"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := RunFile(context.Background(), path, opts(out))
	if err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("want an error naming the metrics folder, got %v", err)
	}
	statuses, _ := statusesOf(dir)
	if len(statuses) == 0 {
		t.Fatal("the failed runs are not recorded")
	}
	for id, st := range statuses {
		if st != "failed" {
			t.Errorf("run %s: %s, want failed", id, st)
		}
	}
	// Once the folder is fixed, --resume runs everything.
	os.Remove(filepath.Join(dir, "metrics"))
	o := opts(out)
	o.Resume = true
	sum, err := RunFile(context.Background(), path, o)
	if err != nil || sum.Completed != 4 {
		t.Errorf("resume after fixing the folder: %+v %v", sum, err)
	}
}

func TestResumeOnACompactedSweepRunsOnlyWhatIsLeft(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	o := opts(out)
	o.Shard, o.Shards = 0, 2 // half the sweep: not complete, so not compacted
	if sum, err := RunFile(context.Background(), path, o); err != nil || sum.Completed != 2 {
		t.Fatalf("first half: %+v %v", sum, err)
	}
	dir := filepath.Join(out, "small")
	if parts := tableFiles(dir, "metrics", "part-*"); len(parts) != 0 {
		t.Fatalf("an incomplete sweep was compacted: %v", parts)
	}
	if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	o = opts(out)
	o.Resume = true
	sum, err := RunFile(context.Background(), path, o)
	if err != nil || sum.Skipped != 2 || sum.Completed != 2 {
		t.Fatalf("resume on the compacted half: %+v %v", sum, err)
	}
	if files := tableFiles(dir, "metrics", "*.parquet"); len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), "part-") {
		t.Errorf("metrics after the sweep completed: %v", files)
	}
	seen := map[string]bool{}
	for _, r := range readMetrics(t, dir) {
		key := fmt.Sprintf("%s %d %s %s", r.RunID, r.Epoch, r.Split, r.Metric)
		if seen[key] {
			t.Errorf("%s recorded twice", key)
		}
		seen[key] = true
	}
	if len(seen) != 4*2*10 {
		t.Errorf("%d metric rows, want %d", len(seen), 4*2*10)
	}
}
