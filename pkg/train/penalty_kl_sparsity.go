package train

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// kl_sparsity: β · Σ_j KL(ρ ‖ ρ̂_j) of the layer's mean activations
// (sparsity.KLSparsity); with convention keras divided by the batch size, as a Keras
// activity regularizer is.
type klSparsity struct{}

func init() { registerPenalty("kl_sparsity", klSparsity{}) }

func (klSparsity) train(c penaltyGraph) *Node {
	kl := sparsity.KLSparsity(c.layerActs(), c.target, c.weight, c.rows)
	if c.r.Convention == "keras" {
		kl = Div(kl, c.samples) // a Keras activity regularizer's sum, divided by the batch size
	}
	return kl
}

func (klSparsity) inGraph() bool { return false }

func (klSparsity) validation(r spec.Regularizer, s *spec.Spec, layer *layerStats, _ float64) float64 {
	p := sparsity.KLFromMeans(layer.means(), r.Target, r.Weight)
	if r.Convention == "keras" {
		p /= float64(s.Train.BatchSize)
	}
	return p
}
