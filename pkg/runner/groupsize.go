package runner

import (
	"slices"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/spec"
)

// MaxGroupSize is how many models of spec s the scheduler trains together on device
// dev: as many as keep the parameters, their gradients and optimizer state and one
// batch's activations within a memory budget.
//
// On a CPU the budget is 128 MiB and the group at most 16 (beyond that a CPU gains
// little from wider batches). The budget is small on purpose: XLA's CPU runtime
// allocates a step's scratch area (about half this estimate) afresh on every step;
// glibc reuses blocks up to 64 MiB for the threads that run steps, and maps anything
// larger anew each time, page faults included. Measured on the seed-004 model
// (bench/README.md): 16 models in one group took 12.6-13.9 s for an epoch each,
// against 8.9 s as two groups of 8.
//
// On a GPU the budget is half the device's free memory and the group at most 256: a
// GPU is all overhead for one small model, and wide groups keep it busy (bench/gpu.sh:
// 64 seed-004 models train per model-epoch at a fraction of one model's cost).
func MaxGroupSize(s *spec.Spec, inputDim int, dev backend.Device) int {
	budget, most := int64(128<<20), 16
	if dev.Accelerator {
		budget, most = 4<<30, 256 // when the free memory is unknown
		if dev.FreeBytes > 0 {
			budget = dev.FreeBytes / 2
		}
	}
	params, units := 0, 0
	in := inputDim
	layers := append(slices.Clone(s.Model.Encoder), s.Model.Decoder...)
	if s.Model.Kind == "sae" { // encoder.0 of the latents, decoder.0 back to the input
		layers = []spec.Layer{{Units: s.Model.SAE.Latents}, {}}
	}
	for _, l := range layers {
		out := l.Units
		if out == 0 {
			out = inputDim
		}
		params += in*out + out
		units += out
		in = out
	}
	perModel := int64(4 * (4*params + 4*s.Train.BatchSize*(units+inputDim)))
	return int(max(1, min(int64(most), budget/perModel)))
}
