package train

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// matryoshka_batchtopk: a BatchTopK SAE (its selection, evaluation threshold and AuxK)
// whose loss is the sum over the nested prefixes m of model.sae.matryoshka_widths of
// the reconstruction from the first m latents alone (Bussmann et al. 2025, "Learning
// Multi-Level Features with Matryoshka Sparse Autoencoders"):
//
//	L = Σ_m ℓ(x, h_{1:m} W_dec[:, 1:m] + b_dec)  (+ α AuxK),
//
// h the one BatchTopK code of the whole dictionary (as dictionary_learning's
// MatryoshkaBatchTopKTrainer; SAELens re-selects within each prefix instead), ℓ the
// spec's loss (mse_sum: ‖x − x̂_m‖², the paper's). The last width is the whole
// dictionary: its term is the `reconstruction` column; each inner prefix adds
// `reconstruction/prefix_<m>`, and validation reports `fvu/prefix_<m>` for every m.
type saeMatryoshka struct{ saeBatchTopK }

func init() { registerSAEActivation("matryoshka_batchtopk", saeMatryoshka{}) }

// inner are the prefix sizes below the whole dictionary.
func (saeMatryoshka) inner(s *saeModel) []int {
	w := s.cfg.MatryoshkaWidths
	return w[:max(len(w)-1, 0)]
}

// prefixRecon reconstructs from the first m latents of h [K, B, L].
func prefixRecon(e saeEncode, h *Node, m int) *Node {
	hm := Slice(h, AxisRange(), AxisRange(), AxisRange(0, m))
	wm := Slice(e.w.Kernels[1], AxisRange(), AxisRange(), AxisRange(0, m))
	return Add(Einsum("kbi,koi->kbo", hm, wm), ExpandAxes(e.w.Biases[1], 1))
}

func prefixName(kind string, m int) string { return fmt.Sprintf("%s/prefix_%d", kind, m) }

func (a saeMatryoshka) penaltyNames(s *saeModel) []string {
	var out []string
	for _, m := range a.inner(s) {
		out = append(out, prefixName("reconstruction", m))
	}
	return out
}

// penalties are the inner prefixes' reconstruction losses [K].
func (a saeMatryoshka) penalties(e saeEncode, h *Node) []namedTerm {
	var out []namedTerm
	for _, m := range a.inner(e.s) {
		rec := e.rows.Mean(sparsity.Reconstruction(e.s.gr.spec.Loss, prefixRecon(e, h, m), e.x))
		out = append(out, namedTerm{prefixName("reconstruction", m), rec})
	}
	return out
}

func (a saeMatryoshka) evalNames(s *saeModel) []string {
	var out []string
	for _, m := range a.inner(s) {
		out = append(out, prefixName("sae/recon", m), prefixName("sae/sq_error", m))
	}
	return out
}

// evalTerms: per sample and inner prefix, its reconstruction loss and Σ_D (x̂_m − x)².
func (a saeMatryoshka) evalTerms(e saeEncode, h, _, x *Node) []namedTerm {
	var out []namedTerm
	for _, m := range a.inner(e.s) {
		r := prefixRecon(e, h, m)
		out = append(out, namedTerm{prefixName("sae/recon", m), sparsity.Reconstruction(e.s.gr.spec.Loss, r, x)},
			namedTerm{prefixName("sae/sq_error", m), ReduceSum(Square(Sub(r, x)), -1)})
	}
	return out
}

// validation: the inner prefixes' reconstruction losses (in the loss) and every
// prefix's FVU, Σ‖x − x̂_m‖² / Σ‖x − mean(x)‖² (the last is fvu).
func (a saeMatryoshka) validation(s *saeModel, _ spec.SAE, v valSums, k int, _ float64) (terms, info []Metric) {
	for _, m := range a.inner(s) {
		terms = append(terms, Metric{Split: "validation", Name: prefixName("reconstruction", m), Value: v.sum(prefixName("sae/recon", m))[k] / v.n})
		info = append(info, Metric{Split: "validation", Name: prefixName("fvu", m), Value: v.sum(prefixName("sae/sq_error", m))[k] / s.sumVar})
	}
	info = append(info, Metric{Split: "validation", Name: prefixName("fvu", s.cfg.Latents), Value: v.sum("sae/sq_error")[k] / s.sumVar})
	return terms, info
}
