package train

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/sae"
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

// BenchmarkSAEStepsPerCall measures a TopK SAE's training step on XLA three ways,
// interleaved over rounds: one step per call (sae.SortSelect), a whole epoch per call
// with sae.SortSelect inside the compiled loop (closuresHere), and the same with
// sae.RadixSelect; at the benchmark's shape (bench/sae/topk.yaml: 512 inputs, 4,096
// latents, k 32, batch 4,096) and the quickstart-sized SAE of experiments/sae/topk.yaml
// (64 inputs, 512 latents, k 8, batch 256, 8,000 samples) (and, asked for, the "anchor":
// 768 inputs, 24,576 latents, k 32, batch 1,024), without AuxK and with it on
// every step (dead_after 1). It logs ms per step (the median epoch of epochs 2..E over
// its steps; one validation row), wall-clock and the process's CPU time (less
// disturbed by other processes on a shared machine), each mode against the first (the
// reported metric: the second mode's CPU time over the first's):
//
//	SAERUN_SHAPES=small,bench go test ./pkg/train -run '^$' -bench SAEStepsPerCall -benchtime 1x -v
//
// (SAERUN_ROUNDS: rounds, default 3; SAERUN_MODES=sort leaves the radix mode out,
// SAERUN_MODES=before-after times main before issue 24 (one step per call, the written
// encoder) against this branch (chunkSteps' steps per call, sae.Encode), =after this
// branch alone;
// SAERUN_STEPS=1,2,-1 times sae.SortSelect at these steps per call instead, -1 the
// whole epoch.)
func BenchmarkSAEStepsPerCall(b *testing.B) {
	be := xlaOrSkip(b)
	type shape struct {
		name                  string
		D, L, k, B, N, epochs int
	}
	shapes := map[string]shape{
		"bench": {"bench", 512, 4096, 32, 4096, 4 * 4096, 4},
		"small": {"small", 64, 512, 8, 256, 8000, 8},
		// The anchor of bench/sae/README.md's "scale on paper": GPT-2 small's 768-d
		// residual stream, 24,576 latents, k 32 (batch 1,024 to stay within this
		// machine's memory beside the other sessions).
		"anchor": {"anchor", 768, 24576, 32, 1024, 4 * 1024, 3},
	}
	names := strings.Split(os.Getenv("SAERUN_SHAPES"), ",")
	if names[0] == "" {
		names = []string{"small"}
	}
	rounds := 3
	if r, err := strconv.Atoi(os.Getenv("SAERUN_ROUNDS")); err == nil {
		rounds = r
	}
	type mode struct {
		name    string
		steps   int
		sel     sae.Select
		written bool // the written form of the encoder (before issue 24) instead of sae.Encode
	}
	// -1: the epoch's steps (Options.StepsPerCall 0 would split the benchmark's epoch
	// into a step per call: chunkSteps' budget).
	modes := []mode{{"one step per call, sort", 1, loopSortSelect, false}, {"epoch per call, sort in loop", -1, loopSortSelect, false},
		{"epoch per call, radix in loop", -1, sae.RadixSelect, false}}
	switch os.Getenv("SAERUN_MODES") {
	case "sort":
		modes = modes[:2]
	case "before-after": // main before issue 24 against this branch, as training runs them
		modes = []mode{{"before: one step per call, written encoder", 1, loopSortSelect, true},
			{"after: chunkSteps' steps per call, sae.Encode", 0, loopSortSelect, false}}
	case "after":
		modes = []mode{{"after: chunkSteps' steps per call, sae.Encode", 0, loopSortSelect, false}}
	}
	if v := os.Getenv("SAERUN_STEPS"); v != "" { // sort, these steps per call
		modes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("SAERUN_STEPS: %v", err)
			}
			modes = append(modes, mode{fmt.Sprintf("%d steps per call, sort", n), n, loopSortSelect, false})
		}
	}
	defer func(s sae.Select) { xlaSelect = s }(xlaSelect)
	defer func(f func(x, wEnc, bEnc, bDec *Node) *Node) { saeEncodeFn = f }(saeEncodeFn)
	for _, name := range names {
		sh, ok := shapes[name]
		if !ok {
			b.Fatalf("SAERUN_SHAPES: unknown shape %q", name)
		}
		tr, err := data.Synthetic(data.SyntheticConfig{Dim: sh.D, Features: 2 * sh.L, Samples: sh.N + 1, Active: sh.k, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		d := Data{Train: tr.Head(sh.N), Validation: tr.Subset([]int{sh.N})}
		steps := (sh.N + sh.B - 1) / sh.B
		for _, aux := range []float64{0, 1.0 / 32} {
			ms, cpu := make([][]float64, len(modes)), make([][]float64, len(modes))
			for r := 0; r < rounds; r++ {
				for i, m := range modes {
					xlaSelect = m.sel
					saeEncodeFn = sae.Encode
					if m.written {
						saeEncodeFn = func(x, wEnc, bEnc, bDec *Node) *Node {
							return Add(Einsum("kbi,koi->kbo", Sub(x, ExpandAxes(bDec, 1)), wEnc), ExpandAxes(bEnc, 1))
						}
					}
					mem := saeMember(b, "a", map[string]any{"model.sae.latents": sh.L, "model.sae.k": sh.k, "model.sae.dead_after": 1,
						"model.sae.aux_coefficient": aux, "model.sae.b_dec_init": "zeros", "train.batch_size": sh.B, "train.epochs": sh.epochs,
						"record": map[string]any{}, "dataset.max_train_samples": 0, "dataset.max_validation_samples": 0})
					per := m.steps
					if per < 0 {
						per = steps
					}
					tn := NewTrainer(be, Options{StepsPerCall: per})
					st := &stamps{}
					_, err := tn.Train(context.Background(), []Member{mem}, d, st)
					tn.Close()
					if err != nil {
						b.Fatal(err)
					}
					w, c := st.perEpoch()
					ms[i] = append(ms[i], 1000*w/float64(steps))
					cpu[i] = append(cpu[i], 1000*c/float64(steps))
				}
			}
			for i, m := range modes {
				b.Logf("%s aux=%v %-30s ms/step %v (min %.2f, ×%.3f the first mode's); CPU ms/step %v (min %.2f, ×%.3f)", sh.name, aux, m.name,
					fmtMs(ms[i]), slices.Min(ms[i]), slices.Min(ms[i])/slices.Min(ms[0]), fmtMs(cpu[i]), slices.Min(cpu[i]), slices.Min(cpu[i])/slices.Min(cpu[0]))
			}
			if len(modes) > 1 {
				b.ReportMetric(slices.Min(cpu[1])/slices.Min(cpu[0]), fmt.Sprintf("%s-aux%v-cpu-mode2/mode1", sh.name, aux > 0))
			}
		}
	}
}

func fmtMs(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// stamps records the wall-clock and CPU time at the end of each epoch (model 0's).
type stamps struct {
	History
	wall, cpu []float64
}

func (s *stamps) Epoch(k int, e *Epoch) error {
	if k == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return err
		}
		tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
		s.wall = append(s.wall, float64(time.Now().UnixNano())/1e9)
		s.cpu = append(s.cpu, tv(ru.Utime)+tv(ru.Stime))
	}
	return nil
}

// perEpoch is the median epoch's wall-clock and CPU seconds over epochs 2..E.
func (s *stamps) perEpoch() (wall, cpu float64) {
	med := func(v []float64) float64 {
		var d []float64
		for i := 1; i < len(v); i++ {
			d = append(d, v[i]-v[i-1])
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	return med(s.wall), med(s.cpu)
}
