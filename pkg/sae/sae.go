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
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sparsity"
)

// lowest stands for -∞ in selections: finite, so that a product with 0 stays 0.
const lowest = -3e38

// relu is max(x, 0).
func relu(x *Node) *Node { return Max(x, ZerosLike(x)) }

// Encode is the pre-activations z = W_enc (x − b_dec) + b_enc, [K, B, L], of inputs x
// [K, B, D], W_enc [K, L, D], b_enc [K, L], b_dec [K, D], with b_dec's gradient taken
// the cheap way. Differentiated as written, b_dec's gradient through the encoder is
// −Σ_b W_encᵀ dz_b, a whole [B, L]×[L, D] product (one of a dense step's six) summed
// over the batch; here it is −W_encᵀ (Σ_b dz_b), a vector-matrix product: the product
// sees x − b_dec without a gradient, and a term that is exactly 0 in value,
// W_enc·(−b_dec) − SG(W_enc·(−b_dec)) with W_enc held constant, carries b_dec's. The
// value is the written form's to the bit and so are W_enc's and b_enc's gradients;
// b_dec's differs in rounding only (the order of the sum). Measured on XLA at the
// benchmark's shape: about 0.85× the CPU time of a step (bench/sae/README.md).
func Encode(x, wEnc, bEnc, bDec *Node) *Node {
	xc := StopGradient(Sub(x, ExpandAxes(bDec, 1)))
	z := Add(Einsum("kbi,koi->kbo", xc, wEnc), ExpandAxes(bEnc, 1))
	shift := Einsum("ki,koi->ko", Neg(bDec), StopGradient(wEnc)) // [K, L]
	return Add(z, ExpandAxes(Sub(shift, StopGradient(shift)), 1))
}

// Fires is the one definition of a latent firing: h > 0, for a code h of any shape
// (bool, h's shape). L0, the dead-latent counters and the dead and dense fractions all
// count it.
func Fires(h *Node) *Node { return GreaterThan(h, ZerosLike(h)) }

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

// Select returns the k-th largest value along the last axis of x [K, R, n], as [K, R],
// with no gradient; k [K] is each model's k (int32, 1 ≤ k ≤ kmax, kmax a constant: the
// group's largest). SortSelect and RadixSelect return the same value.
type Select func(x, k *Node, kmax int) *Node

// SortSelect reads the k-th value off graph.TopK's kmax largest, which XLA on a CPU
// rewrites into a partial sort: at 4,096 latents a sixth of RadixSelect's time. A
// sort's comparator cannot be built inside a compiled loop body as GoMLX v0.28.2 builds
// it (go-xla v0.4.1 refuses it; pkg/train builds it there with a contained workaround,
// closuresHere), and the go backend's sort is slow (seconds for a small batch).
func SortSelect(x, k *Node, kmax int) *Node {
	vals, _ := TopK(StopGradient(x), kmax, -1)
	pos := Sub(k, OnesLike(k))
	return nth(vals, Reshape(pos, pos.Shape().Dimensions[0], 1))
}

// RadixSelect finds the k-th largest value bit by bit, from the top: the float32 bits
// are mapped to int32 keys whose order is the floats' order, and each of 32 passes
// keeps a bit when at least k keys are at or above the candidate. 32 passes of compares
// and sums, no sort: it builds anywhere (loops, the go backend) and is exact.
func RadixSelect(x, k *Node, _ int) *Node {
	bits := Bitcast(StopGradient(x), dtypes.Int32)
	flip := ConstAs(bits, int32(0x7fffffff))
	key := Where(GreaterOrEqual(bits, ZerosLike(bits)), bits, BitwiseXor(bits, flip))
	kk := Reshape(k, k.Shape().Dimensions[0], 1) // [K, 1]
	atLeastK := func(c *Node) *Node {
		return GreaterOrEqual(ReduceSum(ConvertDType(GreaterOrEqual(key, ExpandAxes(c, -1)), dtypes.Int32), -1), kk)
	}
	zero := ZerosLike(Slice(key, AxisRange(), AxisRange(), AxisElem(0)))
	zero = Reshape(zero, zero.Shape().Dimensions[:2]...) // [K, R]
	r := Where(atLeastK(zero), zero, AddScalar(zero, math.MinInt32))
	for bit := 30; bit >= 0; bit-- {
		c := BitwiseOr(r, ConstAs(r, int32(1)<<bit))
		r = Where(atLeastK(c), c, r)
	}
	r = Where(GreaterOrEqual(r, ZerosLike(r)), r, BitwiseXor(r, ConstAs(r, int32(0x7fffffff))))
	return Bitcast(r, dtypes.Float32)
}

// KeepTopK keeps, in each sample of z [K, B, L], the k largest pre-activations (ReLU'd: a
// negative one among them becomes 0), and zeroes the rest; k [K] is each model's k, at
// most kmax. Ties with the k-th value are all kept, so a sample has more than k
// non-zeros only when its pre-activations repeat. Gradients reach z at the kept
// entries only.
func KeepTopK(z, k *Node, kmax int, sel Select) *Node {
	kth := sel(z, k, kmax) // [K, B]
	keep := GreaterOrEqual(z, ExpandAxes(kth, -1))
	return Where(keep, relu(z), ZerosLike(z))
}

// KeepBatchTopK keeps the k·n largest ReLU'd pre-activations of a whole batch of n
// samples (n = rows' sample count; padding rows keep nothing), so that samples share a
// budget of k latents on average. It also returns, per model [K], the smallest positive
// activation it kept (0 when it kept none): the statistic whose moving average becomes
// the single threshold a trained BatchTopK SAE evaluates with (see Threshold). Its
// minimum builds inside a loop body where the program's other reductions are in that
// body too (go-xla v0.4.1 caches one reduction function per builder).
func KeepBatchTopK(z, k *Node, kmax int, rows sparsity.Rows, sel Select) (h, minKept *Node) {
	g := z.Graph()
	K, B, L := z.Shape().Dimensions[0], z.Shape().Dimensions[1], z.Shape().Dimensions[2]
	post := relu(z)
	n := Scalar(g, dtypes.Int32, B)
	if rows.Mask != nil {
		post = Mul(post, Reshape(rows.Mask, 1, B, 1))
		n = ConvertDType(rows.N, dtypes.Int32)
	}
	budget := Mul(k, n)                                                    // [K]
	kth := Reshape(sel(Reshape(post, K, 1, B*L), budget, kmax*B), K, 1, 1) // [K, 1, 1]
	keep := LogicalAnd(GreaterOrEqual(post, kth), GreaterThan(post, ZerosLike(post)))
	h = Where(keep, post, ZerosLike(post))
	big := ConstAs(post, -lowest)
	smallest := ReduceMin(Where(keep, post, BroadcastToDims(big, post.Shape().Dimensions...)), 1, 2) // [K]
	return h, Where(LessThan(smallest, ConstAs(smallest, -lowest)), smallest, ZerosLike(smallest))
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

// WeightedL1 is the ReLU SAE's penalty λ · mean over samples of Σ_j |h_j|·‖d_j‖, [K]
// (SAELens' and Anthropic's form). The weighting stops a model whose decoder norms are
// free from shrinking codes by growing directions; under this package's decoder
// constraint it changes nothing: the directions have unit norm (every weight is 1)
// and its decoder gradient |h_j|·d_j/‖d_j‖ lies along d_j, which ProjectOutParallel
// removes entirely (TestWeightedL1GivesTheProjectedDecoderGradientNothing). Training
// is then that of the plain L1 penalty λ · mean Σ_j |h_j|.
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
func AuxK(z, dead, residual, wDec *Node, kAux int, rows sparsity.Rows, sel Select) *Node {
	K := z.Shape().Dimensions[0]
	d := ExpandAxes(dead, 1) // [K, 1, L]
	dz := Where(BroadcastToDims(d, z.Shape().Dimensions...), z, ConstAs(z, lowest))
	k := Const(z.Graph(), slices.Repeat([]int32{int32(kAux)}, K))
	kth := sel(dz, k, kAux) // [K, B]
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
