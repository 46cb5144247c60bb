package train

import (
	. "github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/sae"
	"github.com/sparselab/saerun/pkg/spec"
)

// jumprelu: h = ReLU(z)·H(z − θ) with a learned θ per latent (a parameter,
// autoencoder.Params.Threshold) and the penalty λ · mean over samples of the number
// of latents above θ (sae.L0, λ = model.sae.l0_coefficient; Rajamanoharan et al. 2024).
type saeJumpReLU struct{ saeActivationBase }

func init() { registerSAEActivation("jumprelu", saeJumpReLU{}) }

func (saeJumpReLU) coefficient(a spec.SAE) float64 { return a.L0Coefficient }
func (saeJumpReLU) warmup(a spec.SAE) int          { return a.L0WarmupSteps }

func (saeJumpReLU) encode(e saeEncode) (*Node, []*Node) {
	return sae.JumpReLU(e.z, e.w.Threshold, e.s.hp(e.h, hpSAEBandwidth)), nil
}

func (saeJumpReLU) penaltyNames(*saeModel) []string { return []string{"penalty/l0/encoder.0"} }

func (saeJumpReLU) penalties(e saeEncode, _ *Node) []namedTerm {
	return []namedTerm{{"penalty/l0/encoder.0", sae.L0(e.z, e.w.Threshold, e.coefficient(), e.s.hp(e.h, hpSAEBandwidth), e.rows)}}
}

func (saeJumpReLU) validation(_ *saeModel, m spec.SAE, _ valSums, _ int, l0 float64) (terms, info []Metric) {
	return []Metric{{Split: "validation", Name: "penalty/l0/encoder.0", Value: m.L0Coefficient * l0}}, nil
}

func (saeJumpReLU) threshold(s *saeModel) *gmodel.Variable { return s.gr.params.Threshold }
