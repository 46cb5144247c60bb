package train

import (
	"context"
	"fmt"
	"testing"

	"github.com/sparselab/saerun/pkg/data"
)

// BenchmarkSAETopKEpoch trains the benchmark SAE (512-d inputs, 4,096 latents,
// k = 32, batch 4,096) for one epoch of 4 steps on random data per iteration, on XLA:
//
//	go test ./pkg/train -run '^$' -bench SAETopK -benchtime 3x
//
// Reports samples/s of training (validation excluded: one row).
func BenchmarkSAETopKEpoch(b *testing.B) {
	for _, aux := range []float64{0, 1.0 / 32} {
		b.Run(fmt.Sprintf("aux=%v", aux), func(b *testing.B) {
			t := b
			be := xlaOrSkip(b)
			const D, N, B = 512, 4 * 4096, 4096
			tr, err := data.Synthetic(data.SyntheticConfig{Dim: D, Features: 8192, Samples: N + 1, Active: 32, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			val := tr.Subset([]int{N})
			tr = tr.Head(N)
			m := saeMember(t, "a", map[string]any{"model.sae.latents": 4096, "model.sae.k": 32, "model.sae.dead_after": 1,
				"model.sae.aux_coefficient": aux, "model.sae.b_dec_init": "zeros", "train.batch_size": B, "train.epochs": 1,
				"record": map[string]any{}, "dataset.max_train_samples": 0, "dataset.max_validation_samples": 0})
			tn := NewTrainer(be, Options{})
			defer tn.Close()
			d := Data{Train: tr, Validation: val}
			if _, err := tn.Train(context.Background(), []Member{m}, d, &History{}); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tn.Train(context.Background(), []Member{m}, d, &History{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(N*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
