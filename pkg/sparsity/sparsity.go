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
package sparsity

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// Epsilon clips probabilities away from 0 and 1 (KL's ρ̂ and BCE's x̂); Keras' value.
const Epsilon = 1e-7

// Reconstruction returns the per-sample reconstruction loss [K, B] of recon against
// target (both [K, B, D]) for kind "mse" or "bce".
func Reconstruction(kind string, recon, target *Node) *Node {
	switch kind {
	case "mse":
		return ReduceMean(Square(Sub(recon, target)), -1)
	case "bce":
		p := ClipScalar(recon, Epsilon, 1-Epsilon)
		ll := Add(Mul(target, Log(p)), Mul(OneMinus(target), Log(OneMinus(p))))
		return Neg(ReduceMean(ll, -1))
	}
	panic("unknown loss " + kind)
}

// L1Activity is λ · mean over the batch of Σ_j |h_bj|, for h [K, B, U] and λ [K]; it
// returns [K].
func L1Activity(h, lambda *Node) *Node {
	return Mul(lambda, ReduceMean(ReduceSum(Abs(h), -1), -1))
}

// KLSparsity is β · Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch mean of unit j, for h [K, B, U]
// and ρ, β [K]; it returns [K].
func KLSparsity(h, rho, beta *Node) *Node {
	rhoHat := ClipScalar(ReduceMean(h, 1), Epsilon, 1-Epsilon) // [K, U]
	r := ExpandAxes(rho, -1)                                   // [K, 1]
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
		switch kind {
		case "mse":
			s += (x - t) * (x - t)
		case "bce":
			p := math.Min(math.Max(x, Epsilon), 1-Epsilon)
			s -= t*math.Log(p) + (1-t)*math.Log(1-p)
		}
	}
	return s / float64(len(recon))
}
