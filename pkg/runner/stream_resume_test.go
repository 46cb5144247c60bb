package runner

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/data"
)

// writeRowsNPY writes rows (n × dim float32) as a .npy file.
func writeRowsNPY(t *testing.T, path string, x []float32, n, dim int) {
	t.Helper()
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, dim)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	out := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(out[8:], uint16(len(header)))
	out = append(out, header...)
	for _, v := range x[:n*dim] {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

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
		writeRowsNPY(t, filepath.Join(dir, fmt.Sprintf("shard-%d.npy", i)), wide(first, n), n, dim)
		first += n
	}
	val := filepath.Join(t.TempDir(), "val.npy")
	writeRowsNPY(t, val, wide(first, 100), 100, dim)
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
