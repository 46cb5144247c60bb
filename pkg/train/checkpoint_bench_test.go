package train

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/data"
)

// fileCheckpointer writes every checkpoint to one file, as the runner does
// (checkpoint.Write: a temporary file, fsynced and renamed).
type fileCheckpointer string

func (p fileCheckpointer) Checkpoint(_ int, s *checkpoint.State) error {
	return checkpoint.Write(string(p), s)
}

// BenchmarkCheckpointInsideAnEpoch times one checkpoint inside an epoch of a streamed
// run of the benchmark SAE (bench/sae/topk-npy.yaml: 512 inputs, 4,096 latents, Adam)
// on XLA: the variables and the epoch's tally read from the device, the stream's
// state, and the file written as the runner writes it (bench/sae/README.md,
// "Checkpoints inside an epoch"):
//
//	go test ./pkg/train -run '^$' -bench CheckpointInsideAnEpoch -benchtime 10x
//
// Reports ms per checkpoint and the file's MB. The streamed set puts the process in
// bounded-memory mode (backend.BoundMemory), as a streamed run does.
func BenchmarkCheckpointInsideAnEpoch(b *testing.B) {
	be := xlaOrSkip(b)
	const D, N, B = 512, 4096, 4096
	tr, err := data.Synthetic(data.SyntheticConfig{Dim: D, Features: 8192, Samples: N + 1, Active: 32, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	d := streamed(b, Data{Train: tr.Head(N), Validation: tr.Subset([]int{N})}, false, N, N)
	m := saeMember(b, "a", map[string]any{"model.sae.latents": 4096, "model.sae.k": 32, "model.sae.b_dec_init": "zeros",
		"train.batch_size": B, "train.epochs": 1, "record": map[string]any{}, "dataset.max_train_samples": 0, "dataset.max_validation_samples": 0})
	gr, err := newGroup(be, []Member{m}, d, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer gr.free()
	if err := gr.uploadVariables(); err != nil {
		b.Fatal(err)
	}
	f, err := gr.openChunks(B)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	active := []bool{true}
	tally := gr.newTally(active)
	defer freeAll(tally...)
	path := filepath.Join(b.TempDir(), "a.ckpt")
	outcomes := make([]Outcome, 1)
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if err := gr.checkpointInEpoch(fileCheckpointer(path), f, 1, 1, tally, 0, active, outcomes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(time.Since(t0).Seconds()*1e3/float64(b.N), "ms/checkpoint")
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "MB")
	}
}
