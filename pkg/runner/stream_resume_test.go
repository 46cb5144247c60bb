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

	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/npytest"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// streamedDigits writes the digits as rows of 256 features (each image four times) in
// .npy shards of 400, 350 and 450 rows, and 100 more rows as the held-out validation
// file; it returns the shards' folder and the validation file. With dataset.buffer 1
// (MiB) a chunk holds 341 rows: four chunks an epoch, the last one short.
func streamedDigits(t *testing.T) (string, string) {
	t.Helper()
	ds, err := data.Load("digits", "")
	if err != nil {
		t.Fatal(err)
	}
	const dim = 256
	wide := func(first, n int) []float32 {
		x := make([]float32, 0, n*dim)
		for i := first; i < first+n; i++ {
			for range 4 {
				x = append(x, ds.Train.Row(i)...)
			}
		}
		return x
	}
	dir := filepath.Join(t.TempDir(), "shards")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first := 0
	for i, n := range []int{400, 350, 450} {
		npytest.Write(t, filepath.Join(dir, fmt.Sprintf("shard-%d.npy", i)), wide(first, n), n, dim)
		first += n
	}
	val := filepath.Join(t.TempDir(), "val.npy")
	npytest.Write(t, val, wide(first, 100), 100, dim)
	return dir, val
}

// streamSpec is resumeSpec's sweep on a streamed data set.
const streamSpec = `name: resume
dataset: {name: npy, path: SHARDS, buffer: 1, validation: path, validation_path: VAL, split_seed: 3}
model:
  encoder: [{units: 16, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 8, batch_size: 40}
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

// A streamed sweep SIGKILLed at random moments and resumed each time ends with every
// table bit-identical to an uninterrupted sweep's: its checkpoints hold the stream's
// position and each run's row order.
func TestSIGKILLedStreamedSweepResumesFromCheckpointsBitIdentically(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a runner several times")
	}
	shards, val := streamedDigits(t)
	sigkillsResumeBitIdentically(t, writeSpec(t, strings.NewReplacer("SHARDS", shards, "VAL", val).Replace(streamSpec)))
}

// oneEpochStreamSpec is streamSpec as SAE researchers run it: one epoch, in batches of
// 10 (chunks of 341 rows: 35 steps each, 123 an epoch), with checkpoints inside the
// epoch every 20 steps (after steps 35, 70 and 105).
func oneEpochStreamSpec(shards, val string) string {
	return strings.NewReplacer("SHARDS", shards, "VAL", val, "train: {epochs: 8, batch_size: 40}", "train: {epochs: 1, batch_size: 10}",
		"checkpoints: {every: 1}", "checkpoints: {every: 1, steps: 20}").Replace(streamSpec)
}

// A one-epoch streamed sweep SIGKILLed at random moments inside its epoch (after a
// checkpoint inside it) and resumed each time ends with every table bit-identical to
// an uninterrupted sweep's: the runs resume inside the epoch (resumed_from_epoch 0),
// not from its start.
func TestSIGKILLedOneEpochStreamedSweepResumesInsideTheEpochBitIdentically(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a runner several times")
	}
	shards, val := streamedDigits(t)
	spec := writeSpec(t, oneEpochStreamSpec(shards, val))
	sigkillsResumeBitIdenticallyFrom(t, spec, func(s *checkpoint.State) bool { return s.Steps > 0 }, 0)
}

// cancelAt is a Progress that cancels the sweep's context once a group reports step
// steps of epoch 1, and keeps the steps reported after that.
type cancelAt struct {
	cancel    func()
	step      int
	cancelled bool
	after     []int
}

func (c *cancelAt) StartGroup(int, int, []sweep.Run, int, int) {}
func (c *cancelAt) Epoch(int, *train.Epoch)                    {}
func (c *cancelAt) EndGroup([]train.Outcome)                   {}
func (c *cancelAt) Batch(epoch, batch, batches int) {
	if c.cancelled {
		c.after = append(c.after, batch)
	} else if epoch == 1 && batch >= c.step {
		c.cancelled = true
		c.cancel()
	}
}

// SIGTERM (the cancelled context) inside the one epoch of a streamed sweep stops its
// group at the next chunk boundary, not at the epoch's end: its runs are recorded
// interrupted with no epoch complete and a checkpoint at that boundary, the groups
// after it do not start, and --resume continues the epoch from the checkpoint and
// ends with every table bit-identical to an uninterrupted sweep's.
func TestSIGTERMedStreamedSweepStopsAtTheNextChunkAndResumesBitIdentically(t *testing.T) {
	shards, val := streamedDigits(t)
	spec := writeSpec(t, oneEpochStreamSpec(shards, val))
	want, _ := reference(t, spec)
	out := t.TempDir()
	dir := filepath.Join(out, "resume")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prog := &cancelAt{cancel: cancel, step: 3}
	var log bytes.Buffer
	sum, err := RunFile(ctx, spec, Options{Out: out, Backend: "go", GroupSize: 2, Log: &log, Progress: prog})
	if err != nil || sum.Interrupt != 2 || sum.Completed != 0 {
		t.Fatalf("interrupted sweep: %+v %v\n%s", sum, err, log.String())
	}
	for _, b := range prog.after {
		if b > 35 {
			t.Errorf("step %d ran after the interrupt: the group should stop at the chunk boundary after step 35", b)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, CheckpointsDir, "*.ckpt"))
	if len(files) != 2 {
		t.Fatalf("%d checkpoints, want the interrupted group's 2", len(files))
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		s, err := checkpoint.Parse(f, data)
		if err != nil || s.Epoch != 0 || s.Steps != 35 || s.Tally == nil || s.Stream == nil || s.Stream.Epoch != 1 {
			t.Errorf("%s: %+v %v, want a checkpoint 35 steps into epoch 1", f, s, err)
		}
	}
	statuses, err := statusesOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	interrupted := 0
	for _, st := range statuses {
		if st == train.StatusInterrupted {
			interrupted++
		}
	}
	if interrupted != 2 {
		t.Errorf("statuses %v, want 2 runs interrupted", statuses)
	}
	log.Reset()
	if sum, err := RunFile(context.Background(), spec, Options{Out: out, Backend: "go", GroupSize: 2, Resume: true, Log: &log}); err != nil || sum.Completed != 4 {
		t.Fatalf("resume: %+v %v\n%s", sum, err, log.String())
	}
	if !strings.Contains(log.String(), "resuming inside epoch 1, after 35 of its steps") {
		t.Errorf("the log does not say where the runs resume:\n%s", log.String())
	}
	got, resumed := tables(t, dir)
	sameTables(t, got, want)
	n := 0
	for id, r := range resumed {
		switch {
		case r != nil && *r == 0:
			n++
		case r != nil:
			t.Errorf("run %s: resumed_from_epoch %d, want 0 (inside epoch 1) or null", id, *r)
		}
	}
	if n != 2 {
		t.Errorf("%d runs resumed inside epoch 1, want the interrupted group's 2", n)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointsDir)); err == nil {
		t.Errorf("checkpoints/ left after the sweep finished")
	}
}

// A buffer whose chunks hold less than a batch is refused when the sweep is planned,
// naming the key, the folder and the buffer needed; nothing is written.
func TestStreamedSpecWhoseBufferHoldsLessThanABatchIsRefusedBeforeWriting(t *testing.T) {
	shards, val := streamedDigits(t)
	spec := strings.NewReplacer("SHARDS", shards, "VAL", val, "batch_size: 40", "batch_size: 400").Replace(streamSpec)
	out := t.TempDir()
	_, err := RunFile(context.Background(), writeSpec(t, spec), Options{Out: out, Backend: "go", Log: &bytes.Buffer{}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "dataset.buffer: 1 MiB gives chunks of 341 rows of "+shards) ||
		!strings.Contains(err.Error(), "train.batch_size 400") || !strings.Contains(err.Error(), "allowed: at least 2 MiB") {
		t.Fatalf("err = %v, want a usage error naming dataset.buffer and the MiB needed", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("wrote %d entries before refusing", len(entries))
	}
}

// Bad shard folders are refused when the sweep is planned, each naming the key, the
// file and what is allowed; nothing is written.
func TestBadShardFoldersAreRefusedByKeyAndFileBeforeWriting(t *testing.T) {
	fixture := func(p ...string) string { return filepath.Join(append([]string{"..", "data", "testdata"}, p...)...) }
	copyInto := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, src := range files {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	_, val := streamedDigits(t)
	for _, c := range []struct {
		name, kind string
		dir        func(t *testing.T) string
		wants      []string
	}{
		{"missing folder", "npy", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, []string{"dataset.path", "nope", "not found"}},
		{"mixed dtypes", "npy", func(t *testing.T) string {
			return copyInto(t, map[string]string{"a.npy": fixture("vectors", "f4.npy"), "b.npy": fixture("vectors", "f2.npy")})
		}, []string{"dataset.path", "b.npy", "dtype <f2", "a.npy is <f4", "allowed: <f4, <f2"}},
		{"empty shard", "parquet", func(t *testing.T) string {
			return copyInto(t, map[string]string{"a.parquet": fixture("stream", "f32", "shard-000.parquet"), "b.parquet": fixture("stream", "empty.parquet")})
		}, []string{"dataset.path", "b.parquet", "no rows"}},
		{"wrong column type", "parquet", func(t *testing.T) string {
			return copyInto(t, map[string]string{"a.parquet": fixture("vectors", "float64.parquet")})
		}, []string{"dataset.path", "a.parquet", "list<double>", "allowed: list<float32> or list<float16>"}},
		{"mixed widths", "parquet", func(t *testing.T) string {
			return copyInto(t, map[string]string{"a.parquet": fixture("stream", "f32", "shard-000.parquet"), "b.parquet": fixture("stream", "wide.parquet")})
		}, []string{"dataset.path", "b.parquet", "4 features", "same width"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := strings.NewReplacer("name: npy", "name: "+c.kind, "SHARDS", c.dir(t), "VAL", val).Replace(streamSpec)
			out := t.TempDir()
			_, err := RunFile(context.Background(), writeSpec(t, spec), Options{Out: out, Backend: "go", Log: &bytes.Buffer{}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("wrote %d entries before refusing", len(entries))
			}
		})
	}
}
