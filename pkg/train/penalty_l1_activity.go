package train

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// l1_activity: λ · mean over samples of Σ_j |h_j| of the layer (sparsity.L1Activity).
type l1Activity struct{}

func init() { registerPenalty("l1_activity", l1Activity{}) }

func (l1Activity) train(c penaltyGraph) *Node {
	return sparsity.L1Activity(c.layerActs(), c.weight, c.rows)
}

func (l1Activity) inGraph() bool { return false }

func (l1Activity) validation(r spec.Regularizer, _ *spec.Spec, layer *layerStats, _ float64) float64 {
	return r.Weight * layer.l1()
}
