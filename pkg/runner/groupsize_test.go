package runner

import (
	"testing"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/spec"
)

func TestDefaultGroupSizeKeepsASeed004StepWithinTheAllocatorsReuse(t *testing.T) {
	load := func(path string) *spec.Spec {
		s, _, err := spec.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The seed-004 model (784-128-64-128-784, batch 256): a group of 11 models needs a
	// 57 MB scratch area per XLA step, one of 16 needs 82 MB, past glibc's 64 MiB heaps.
	if k := MaxGroupSize(load("../../bench/specs/batched-fashion-004.yaml"), 784, backend.Device{}); k < 8 || k > 11 {
		t.Errorf("seed-004 model: default group of %d; want 8 to 11", k)
	}
	// The small digits model still fills the largest group.
	if k := MaxGroupSize(load("../../bench/specs/batched-l1-digits.yaml"), 64, backend.Device{}); k != 16 {
		t.Errorf("digits model: default group of %d; want 16", k)
	}
}

// On a GPU the budget is half the free memory: the seed-004 model fills groups of 64
// and more, as the measurements ask (bench/gpu.sh), and the CPU cap does not apply.
func TestGroupSizeOnAGPUComesFromItsFreeMemory(t *testing.T) {
	s, _, err := spec.Load("../../bench/specs/batched-fashion-004.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h200 := backend.Device{Accelerator: true, FreeBytes: 130 << 30}
	if k := MaxGroupSize(s, 784, h200); k < 64 {
		t.Errorf("seed-004 model on a GPU with 130 GiB free: group of %d, want >= 64", k)
	}
	small := backend.Device{Accelerator: true, FreeBytes: 64 << 20}
	if k := MaxGroupSize(s, 784, small); k > 8 {
		t.Errorf("64 MiB free: group of %d, want few", k)
	}
}

func TestSAEGroupSizeCountsItsLatents(t *testing.T) {
	s := &spec.Spec{Model: spec.Model{Kind: "sae", SAE: spec.SAE{Latents: 4096}}, Train: spec.Train{BatchSize: 4096}}
	if n := MaxGroupSize(s, 512, backend.Device{}); n != 1 {
		t.Errorf("a 512×4,096 SAE with batches of 4,096 on a CPU: group of %d, want 1", n)
	}
	s.Model.SAE.Latents, s.Train.BatchSize = 64, 32
	if n := MaxGroupSize(s, 64, backend.Device{}); n != 16 {
		t.Errorf("a small SAE: group of %d, want the CPU's 16", n)
	}
}
