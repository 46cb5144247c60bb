package train

import (
	"slices"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// weight_decay: λ/2 · Σ ‖W‖² over the kernels of the listed layers (all when none
// are listed), sparsity.WeightDecay; the same in training and validation.
type weightDecay struct{}

func init() { registerPenalty("weight_decay", weightDecay{}) }

func (weightDecay) train(c penaltyGraph) *Node {
	var kernels []*Node
	for i, l := range c.arch.Layers {
		if len(c.r.Layers) == 0 || slices.Contains(c.r.Layers, l.Name) {
			kernels = append(kernels, c.w.Kernels[i])
		}
	}
	return sparsity.WeightDecay(kernels, c.weight)
}

func (weightDecay) inGraph() bool { return true }

func (weightDecay) validation(_ spec.Regularizer, _ *spec.Spec, _ *layerStats, eval float64) float64 {
	return eval
}
