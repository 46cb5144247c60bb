// Package sparsity holds the losses and penalties of a sparse autoencoder, in two forms:
// GoMLX graph functions used for training (with a leading model axis K and per-model
// hyperparameter tensors, so one compiled graph serves a whole sweep) and plain Go
// versions used for validation statistics and as the reference the tests check the
// graph against. The formulas are those of ../shared/seeds/README.md, with the seed
// notebooks' bugs fixed:
//
//	L1 activity   λ · mean_b Σ_j |h_bj|                   (Keras' activity_regularizer convention)
//	KL sparsity   β · Σ_j KL(ρ ‖ ρ̂_j),  ρ̂_j = mean_b h_bj clipped to [ε, 1-ε]
//	weight decay  λ/2 · Σ_layers ‖W‖²                     (kernels only, not biases)
//	MSE           mean over batch and features of (x̂ - x)²
//	BCE           mean over batch and features of -(x log x̂ + (1-x) log(1-x̂)), x̂ clipped to [ε, 1-ε]
//	mse_sum, bce_sum  the same summed over features (mean over the batch): the VAE convention
//	VAE KL        KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j) per sample
//	MAPE          100 · Σ |x̂ − x| / |x| over the pixels with x ≠ 0, divided by their count
//	              (and the seeds' "mape_seed": 100 · Σ |x̂ − x| / Σ |x|, computed by pkg/train)
//
// KL sparsity with convention "keras" is divided by the batch size in pkg/train, as a
// Keras activity regularizer is.
package sparsity

import (
	"math"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
)

// Epsilon clips probabilities away from 0 and 1 (KL's ρ̂ and BCE's x̂); Keras' value.
const Epsilon = 1e-7

// Reconstruction returns the per-sample reconstruction loss [K, B] of recon against
// target (both [K, B, D]) for kind "mse", "bce" (mean over features), "mse_sum" or
// "bce_sum" (sum over features).
func Reconstruction(kind string, recon, target *Node) *Node {
	var perPixel *Node
	switch strings.TrimSuffix(kind, "_sum") {
	case "mse":
		perPixel = Square(Sub(recon, target))
	case "bce":
		p := ClipScalar(recon, Epsilon, 1-Epsilon)
		perPixel = Neg(Add(Mul(target, Log(p)), Mul(OneMinus(target), Log(OneMinus(p)))))
	default:
		panic("unknown loss " + kind)
	}
	if strings.HasSuffix(kind, "_sum") {
		return ReduceSum(perPixel, -1)
	}
	return ReduceMean(perPixel, -1)
}

// GaussianKL is KL(N(μ, σ²) ‖ N(0, I)) per sample [K, B], for μ and log σ² [K, B, L].
func GaussianKL(mu, logVar *Node) *Node {
	terms := Sub(Sub(AddScalar(logVar, 1), Square(mu)), Exp(logVar))
	return MulScalar(ReduceSum(terms, -1), -0.5)
}

// APE returns, per sample [K, B], the sum of |x̂ − x| / |x| over the pixels with
// x ≠ 0 and the count of those pixels: MAPE = 100 · Σ sums / Σ counts. Zero pixels
// are left out because the percentage error is undefined there.
func APE(recon, target *Node) (sum, count *Node) {
	nonzero := NotEqual(target, ZerosLike(target))
	safe := Where(nonzero, Abs(target), OnesLike(target))
	ape := Where(nonzero, Div(Abs(Sub(recon, target)), safe), ZerosLike(target))
	return ReduceSum(ape, -1), ReduceSum(ConvertDType(nonzero, target.DType()), -1)
}

// Rows says which rows of a batch [K, B, ...] are samples: all of them (the zero
// value), or, in the padded last batch of an epoch, the first N. Every batch of an
// epoch then has the same shape, so the training step compiles once; for a full batch
// the masked mean adds exactly the same numbers as ReduceMean.
type Rows struct {
	Mask *Node // [B] float32: 1 for a sample, 0 for padding; nil: every row is a sample
	N    *Node // scalar float32: the number of samples (unused when Mask is nil)
}

// Mean averages x [K, B, ...] over its samples (axis 1).
func (r Rows) Mean(x *Node) *Node {
	if r.Mask == nil {
		return ReduceMean(x, 1)
	}
	return Div(r.Sum(x), r.N)
}

// Sum adds x [K, B, ...] over its samples (axis 1).
func (r Rows) Sum(x *Node) *Node {
	if r.Mask == nil {
		return ReduceSum(x, 1)
	}
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[1] = r.Mask.Shape().Dimensions[0]
	return ReduceSum(Mul(x, Reshape(r.Mask, dims...)), 1)
}

// L1Activity is λ · mean over the batch of Σ_j |h_bj|, for h [K, B, U] and λ [K]; it
// returns [K].
func L1Activity(h, lambda *Node, rows Rows) *Node {
	return Mul(lambda, rows.Mean(ReduceSum(Abs(h), -1)))
}

// KLSparsity is β · Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch mean of unit j, for h [K, B, U]
// and ρ, β [K]; it returns [K].
func KLSparsity(h, rho, beta *Node, rows Rows) *Node {
	rhoHat := ClipScalar(rows.Mean(h), Epsilon, 1-Epsilon) // [K, U]
	r := ExpandAxes(rho, -1)                               // [K, 1]
	kl := Add(
		Mul(r, Log(Div(r, rhoHat))),
		Mul(OneMinus(r), Log(Div(OneMinus(r), OneMinus(rhoHat)))))
	return Mul(beta, ReduceSum(kl, -1))
}

// WeightDecay is λ/2 · Σ ‖W‖² over the given kernels [K, in, out], λ [K]; returns [K].
func WeightDecay(kernels []*Node, lambda *Node) *Node {
	var sum *Node
	for _, w := range kernels {
		s := ReduceSum(Square(w), 1, 2)
		if sum == nil {
			sum = s
		} else {
			sum = Add(sum, s)
		}
	}
	return Mul(MulScalar(lambda, 0.5), sum)
}

// KL is the host version of one unit's KL(ρ ‖ ρ̂), ρ̂ clipped like the graph's.
func KL(rho, rhoHat float64) float64 {
	rhoHat = math.Min(math.Max(rhoHat, Epsilon), 1-Epsilon)
	return rho*math.Log(rho/rhoHat) + (1-rho)*math.Log((1-rho)/(1-rhoHat))
}

// KLFromMeans is β · Σ_j KL(ρ ‖ means_j): the KL penalty given each unit's mean activation.
func KLFromMeans(means []float64, rho, beta float64) float64 {
	s := 0.0
	for _, m := range means {
		s += KL(rho, m)
	}
	return beta * s
}

// ReconstructionOne is the host version of one sample's reconstruction loss.
func ReconstructionOne(kind string, recon, target []float32) float64 {
	s := 0.0
	for i := range recon {
		x, t := float64(recon[i]), float64(target[i])
		switch strings.TrimSuffix(kind, "_sum") {
		case "mse":
			s += (x - t) * (x - t)
		case "bce":
			p := math.Min(math.Max(x, Epsilon), 1-Epsilon)
			s -= t*math.Log(p) + (1-t)*math.Log(1-p)
		}
	}
	if strings.HasSuffix(kind, "_sum") {
		return s
	}
	return s / float64(len(recon))
}
