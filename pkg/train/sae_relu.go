package train

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sae"
	"github.com/sparselab/saerun/pkg/spec"
)

// relu: h = ReLU(z), with the penalty λ · mean over samples of Σ_j |h_j|·‖d_j‖
// (sae.WeightedL1, λ = model.sae.l1_coefficient, ramped up over l1_warmup_steps).
// Under the decoder constraint (unit-norm directions, the gradient's parallel part
// removed) the ‖d_j‖ weighting has no effect on training: every ‖d_j‖ is 1 and its
// decoder gradient is all parallel. It is kept as the anchors write the penalty.
type saeReLU struct{ saeActivationBase }

func init() { registerSAEActivation("relu", saeReLU{}) }

func (saeReLU) coefficient(a spec.SAE) float64 { return a.L1Coefficient }
func (saeReLU) warmup(a spec.SAE) int          { return a.L1WarmupSteps }

func (saeReLU) encode(e saeEncode) (*Node, []*Node) { return Max(e.z, ZerosLike(e.z)), nil }

func (saeReLU) penaltyNames(*saeModel) []string { return []string{"penalty/l1/encoder.0"} }

func (saeReLU) penalties(e saeEncode, h *Node) []namedTerm {
	return []namedTerm{{"penalty/l1/encoder.0", sae.WeightedL1(h, e.w.Kernels[1], e.coefficient(), e.rows)}}
}

func (saeReLU) evalNames(*saeModel) []string { return []string{"sae/weighted_l1"} }

// evalTerms: per sample Σ_j |h_j|·‖d_j‖.
func (saeReLU) evalTerms(e saeEncode, h, _, _ *Node) []namedTerm {
	return []namedTerm{{"sae/weighted_l1", ReduceSum(Mul(Abs(h), ExpandAxes(sae.DecoderNorms(e.w.Kernels[1]), 1)), -1)}}
}

func (saeReLU) validation(_ *saeModel, m spec.SAE, v valSums, k int, _ float64) (terms, info []Metric) {
	return []Metric{{Split: "validation", Name: "penalty/l1/encoder.0", Value: m.L1Coefficient * v.sum("sae/weighted_l1")[k] / v.n}}, nil
}
