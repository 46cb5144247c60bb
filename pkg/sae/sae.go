// Package sae holds the parts of the sparse autoencoders of interpretability research
// (model.kind: sae) that the classic autoencoders of the seeds do not have: the
// activation functions that make the code sparse (TopK, BatchTopK, JumpReLU, or ReLU with
// a decoder-norm-weighted L1 penalty), the AuxK loss that revives dead latents, the
// unit-norm decoder constraint, and the initial values (decoder directions, W_enc = W_decᵀ,
// b_dec at the data's mean or geometric median).
//
// The model is x → h = f(W_enc (x − b_dec) + b_enc) → x̂ = W_dec h + b_dec. Like the rest
// of the library every tensor has a leading model axis K, and what may differ between the
// models of a group (k, penalty coefficients, bandwidth) is a [K] tensor: a sweep over k
// or λ trains in one compiled program. Kernels are stored as pkg/autoencoder stores them,
// [K, out, in]: W_enc is [K, L, D] and W_dec [K, D, L], so latent j's decoder direction is
// column j of W_dec (the row d_j of the papers' d_sae × d_in matrix).
//
// Anchors, whose formulas these follow: Gao et al. 2024 and OpenAI's sparse_autoencoder
// (TopK, AuxK), Bussmann et al. 2024 and dictionary_learning (BatchTopK and its
// evaluation threshold), Rajamanoharan et al. 2024 (JumpReLU and its pseudo-derivatives,
// eq. 11), SAELens (names, the decoder-parallel gradient removal).
package sae

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sparsity"
)

// lowest stands for -∞ in selections: finite, so that a product with 0 stays 0.
const lowest = -3e38

// relu is max(x, 0).
func relu(x *Node) *Node { return Max(x, ZerosLike(x)) }

// nth returns, for sorted values v [..., n], the value at position pos [...] (an int32
// per row, broadcast over v's leading axes) along the last axis, and 0 where pos is out
// of [0, n). It is built from a comparison and a sum: a gather along the last axis with
// per-row positions would do, but this form is buildable inside a compiled loop body on
// every backend.
func nth(v, pos *Node) *Node {
	n := v.Shape().Dimensions[v.Rank()-1]
	at := make([]int, v.Rank())
	for i := range at {
		at[i] = 1
	}
	at[len(at)-1] = n
	iota := Reshape(Iota(v.Graph(), shapes.Make(dtypes.Int32, n), 0), at...)
	dims := append(append([]int(nil), pos.Shape().Dimensions...), 1)
	for len(dims) < v.Rank() { // a scalar position: the same for every row
		dims = append([]int{1}, dims...)
	}
	hit := Equal(Reshape(pos, dims...), iota) // [..., n]
	return ReduceSum(Where(BroadcastToDims(hit, v.Shape().Dimensions...), v, ZerosLike(v)), -1)
}

// KeepTopK keeps, in each sample of z [K, B, L], the k largest pre-activations (ReLU'd: a
// negative one among them becomes 0), and zeroes the rest. k [K] is each model's k as
// int32, at most kmax (the group's largest, a constant). Ties with the k-th value are
// all kept, so a sample has more than k non-zeros only when its pre-activations repeat.
// Gradients reach z at the kept entries only.
func KeepTopK(z, k *Node, kmax int) *Node {
	vals := topValues(z, kmax)
	kth := nth(vals, Sub(ExpandAxes(k, -1), OnesLike(ExpandAxes(k, -1)))) // [K, B]
	keep := GreaterOrEqual(z, ExpandAxes(kth, -1))
	return Where(keep, relu(z), ZerosLike(z))
}

// topValues returns the k largest values of x along its last axis, sorted in
// descending order, with no gradient. (XLA on a CPU rewrites graph.TopK's sort and
// slice into a partial sort: about a quarter of the encoder's matmul at 4,096 latents.)
func topValues(x *Node, k int) *Node {
	v, _ := TopK(StopGradient(x), k, -1)
	return v
}

// KeepBatchTopK keeps the k·n largest ReLU'd pre-activations of a whole batch of n samples
// (n = rows' sample count; padding rows keep nothing), so that samples share a budget of
// k latents on average. It also returns, per model [K], the smallest positive activation
// it kept (0 when it kept none): the statistic whose moving average becomes the single
// threshold a trained BatchTopK SAE evaluates with (see Threshold).
func KeepBatchTopK(z, k *Node, kmax int, rows sparsity.Rows) (h, minKept *Node) {
	g := z.Graph()
	K, B, L := z.Shape().Dimensions[0], z.Shape().Dimensions[1], z.Shape().Dimensions[2]
	post := relu(z)
	n := Scalar(g, dtypes.Int32, B)
	if rows.Mask != nil {
		post = Mul(post, Reshape(rows.Mask, 1, B, 1))
		n = ConvertDType(rows.N, dtypes.Int32)
	}
	budget := Mul(k, n) // [K]
	vals := topValues(Reshape(post, K, B*L), kmax*B)
	kth := nth(vals, Sub(budget, OnesLike(budget))) // [K]
	keep := LogicalAnd(GreaterOrEqual(post, Reshape(kth, K, 1, 1)), GreaterThan(post, ZerosLike(post)))
	h = Where(keep, post, ZerosLike(post))
	// The smallest positive kept value sits at position (number of positive kept) − 1.
	pos := Iota(g, shapes.Make(dtypes.Int32, kmax*B), 0)
	kept := LogicalAnd(GreaterThan(vals, ZerosLike(vals)), LessThan(ExpandAxes(pos, 0), ExpandAxes(budget, -1)))
	count := ReduceSum(ConvertDType(kept, dtypes.Int32), -1)
	return h, nth(vals, Sub(count, OnesLike(count)))
}

// Threshold is the evaluation form of BatchTopK: ReLU(z) where z > θ, θ [K] one
// threshold per model (a JumpReLU with a single threshold).
func Threshold(z, theta *Node) *Node {
	return Where(GreaterThan(z, Reshape(theta, theta.Shape().Dimensions[0], 1, 1)), relu(z), ZerosLike(z))
}

// UpdateThreshold moves BatchTopK's threshold θ [K] towards the batch's smallest kept
// activation m [K] as an exponential moving average with momentum β [K]; a negative θ
// (not yet set) takes m, and a batch that kept nothing (m = 0) leaves θ alone.
func UpdateThreshold(theta, m, beta *Node) *Node {
	ema := Add(Mul(beta, theta), Mul(OneMinus(beta), m))
	next := Where(LessThan(theta, ZerosLike(theta)), m, ema)
	return Where(GreaterThan(m, ZerosLike(m)), next, theta)
}

// rectangle is the kernel K(u) = 1 for |u| < ½, else 0, of Rajamanoharan et al.
func rectangle(u *Node) *Node {
	half := ConstAs(u, 0.5)
	return ConvertDType(LogicalAnd(GreaterThan(u, Neg(half)), LessThan(u, half)), u.DType())
}

// withGradient returns value, whose gradient with respect to theta is slope (times the
// incoming gradient) and with respect to nothing else but what value itself carries:
// value + θ·SG(slope) − SG(θ·slope), where the last two terms cancel exactly.
func withGradient(value, theta, slope *Node) *Node {
	t := BroadcastToDims(theta, slope.Shape().Dimensions...)
	return Add(value, Sub(Mul(t, StopGradient(slope)), StopGradient(Mul(t, slope))))
}

// JumpReLU is ReLU(z)·H(z − θ) for z [K, B, L] and per-latent thresholds θ [K, L], with
// ε [K] the bandwidth of the pseudo-derivatives (Rajamanoharan et al. eq. 11): the
// gradient reaches z through the kept entries, and θ as −(θ/ε)·K((z − θ)/ε).
func JumpReLU(z, theta, eps *Node) *Node {
	th, e := ExpandAxes(theta, 1), Reshape(eps, eps.Shape().Dimensions[0], 1, 1)
	on := GreaterThan(z, th)
	value := Mul(relu(z), StopGradient(ConvertDType(on, z.DType())))
	slope := Neg(Mul(Div(th, e), rectangle(Div(Sub(z, th), e))))
	return withGradient(value, th, slope)
}

// L0 is the JumpReLU sparsity penalty λ · mean over samples of Σ_j H(z_j − θ_j), [K],
// with λ and ε [K]; its gradient reaches θ only, as −(1/ε)·K((z − θ)/ε).
func L0(z, theta, lambda, eps *Node, rows sparsity.Rows) *Node {
	th, e := ExpandAxes(theta, 1), Reshape(eps, eps.Shape().Dimensions[0], 1, 1)
	step := StopGradient(ConvertDType(GreaterThan(z, th), z.DType()))
	slope := Neg(Div(rectangle(Div(Sub(z, th), e)), e))
	return Mul(lambda, rows.Mean(ReduceSum(withGradient(step, th, slope), -1)))
}

// DecoderNorms are the norms ‖d_j‖ of the decoder directions, [K, L], of W_dec [K, D, L].
func DecoderNorms(wDec *Node) *Node { return Sqrt(ReduceSum(Square(wDec), 1)) }

// WeightedL1 is the ReLU SAE's penalty λ · mean over samples of Σ_j |h_j|·‖d_j‖, [K]:
// weighting by the decoder norms stops the model from shrinking codes by growing
// decoder directions (with unit-norm directions the weights are 1 but the gradient
// differs).
func WeightedL1(h, wDec, lambda *Node, rows sparsity.Rows) *Node {
	weighted := Mul(Abs(h), ExpandAxes(DecoderNorms(wDec), 1))
	return Mul(lambda, rows.Mean(ReduceSum(weighted, -1)))
}

// AuxK is the auxiliary loss of Gao et al. that gives dead latents a gradient: the top
// kAux pre-activations of z [K, B, L] among the dead latents (dead [K, L]) reconstruct the
// residual r = x − x̂ [K, B, D] (taken as a constant) through the decoder directions alone,
// ê = W_dec h_aux, with no b_dec (x − x̂ has none: adding it again is a bug of two
// anchors). The loss is Σ‖r − ê‖² / Σ‖r − mean(r)‖² over the batch's samples, [K], and
// exactly 0 for a model with no dead latent.
func AuxK(z, dead, residual, wDec *Node, kAux int, rows sparsity.Rows) *Node {
	d := ExpandAxes(dead, 1) // [K, 1, L]
	dz := Where(BroadcastToDims(d, z.Shape().Dimensions...), z, ConstAs(z, lowest))
	vals := topValues(dz, kAux)
	kth := nth(vals, Const(z.Graph(), int32(kAux-1))) // [K, B]
	keep := LogicalAnd(d, GreaterOrEqual(dz, ExpandAxes(kth, -1)))
	hAux := Where(keep, relu(z), ZerosLike(z))
	eHat := Einsum("kbl,kdl->kbd", hAux, wDec)
	r := StopGradient(residual)
	num := rows.Sum(ReduceSum(Square(Sub(r, eHat)), -1))                        // [K]
	den := rows.Sum(ReduceSum(Square(Sub(r, ExpandAxes(rows.Mean(r), 1))), -1)) // [K]
	loss := Div(num, Max(den, ConstAs(den, 1e-30)))
	return Where(LogicalAny(dead, -1), loss, ZerosLike(loss))
}

// ProjectOutParallel removes from the gradient g of W_dec [K, D, L] its component
// along each decoder direction: a step then rotates the directions instead of
// growing them (SAELens' remove_gradient_parallel_to_decoder_directions).
func ProjectOutParallel(g, wDec *Node) *Node {
	return Sub(g, Mul(wDec, ReduceAndKeep(Mul(g, wDec), ReduceSum, 1)))
}

// UnitColumns renormalises the decoder directions of W_dec [K, D, L] to norm 1.
func UnitColumns(wDec *Node) *Node {
	n := Sqrt(ReduceAndKeep(Square(wDec), ReduceSum, 1))
	return Div(wDec, Max(n, ConstAs(n, 1e-12)))
}
