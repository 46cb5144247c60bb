package optim

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/spec"
)

// LearningRate is the learning rate of the n-th optimizer step (n = 1, 2, …) under
// schedule s, for a base rate lr (experiments/README.md, "Training recipe"):
//
//	n ≤ W:       lr · n/W                                  (warm-up; W = s.WarmupSteps)
//	constant:    lr
//	linear:      lr + (f − lr)·u                           u = min(1, (n − W)/D)
//	cosine:      f + (lr − f)·(1 + cos(π u))/2
//
// with D = s.DecaySteps and f = s.FinalLearningRate. It is the host's reference of the
// graph's ScheduledRate, and what the learning_rate metric reports.
func LearningRate(lr float64, s spec.Schedule, n int64) float64 {
	w := float64(s.WarmupSteps)
	if s.WarmupSteps > 0 && float64(n) < w {
		return lr * float64(n) / w
	}
	u := 0.0
	if s.DecaySteps > 0 {
		u = min(1, (float64(n)-w)/float64(s.DecaySteps))
	}
	switch s.Decay {
	case "linear":
		return lr + (s.FinalLearningRate-lr)*u
	case "cosine":
		return s.FinalLearningRate + (lr-s.FinalLearningRate)*(1+math.Cos(math.Pi*u))/2
	}
	return lr
}

// ScheduledRate is LearningRate in a graph, per model: lr, warmup, decaySteps and
// final are [K] float32 (steps as whole numbers; 0 warm-up steps: none), decay the
// group's one decay kind and n the step number (a scalar of any numeric type).
func ScheduledRate(lr, warmup, decaySteps, final *Node, decay string, n *Node) *Node {
	t := ConvertDType(n, dtypes.Float32)
	one := OnesLike(lr)
	// warm-up factor min(1, n/W), 1 where W = 0 (the division's Inf there is not selected).
	hasWarmup := GreaterThan(warmup, ZerosLike(warmup))
	ramp := Where(hasWarmup, Min(Div(BroadcastToDims(t, lr.Shape().Dimensions...), Max(warmup, one)), one), one)
	rate := lr
	switch decay {
	case "linear", "cosine":
		u := Div(Sub(BroadcastToDims(t, lr.Shape().Dimensions...), warmup), Max(decaySteps, one))
		u = Min(Max(u, ZerosLike(u)), one)
		if decay == "linear" {
			rate = Add(lr, Mul(Sub(final, lr), u))
		} else {
			c := MulScalar(AddScalar(Cos(MulScalar(u, math.Pi)), 1), 0.5)
			rate = Add(final, Mul(Sub(lr, final), c))
		}
	}
	// During the warm-up the rate ramps to lr (u is 0 there, so rate is lr).
	return Where(LessThan(BroadcastToDims(t, lr.Shape().Dimensions...), warmup), Mul(lr, ramp), rate)
}

// CoefficientRamp is a penalty coefficient's warm-up factor min(1, n/W) per model
// (warmup [K] float32, 0: none, factor 1) at step number n (scalar).
func CoefficientRamp(warmup, n *Node) *Node {
	t := BroadcastToDims(ConvertDType(n, dtypes.Float32), warmup.Shape().Dimensions...)
	one := OnesLike(warmup)
	return Where(GreaterThan(warmup, ZerosLike(warmup)), Min(Div(t, Max(warmup, one)), one), one)
}

// ClipGradNorm rescales each model's gradients so that their global L2 norm, over
// all of that model's parameters, is at most maxNorm [K] (0: no clipping): model k's
// gradients are multiplied by min(1, c_k / (‖g_k‖ + 1e-6)), as
// torch.nn.utils.clip_grad_norm_ does. grads are [K, ...] each; a model's factor
// depends on its own gradients only.
func ClipGradNorm(grads []*Node, maxNorm *Node) []*Node {
	var sq *Node
	for _, g := range grads {
		axes := make([]int, g.Rank()-1)
		for i := range axes {
			axes[i] = i + 1
		}
		s := Square(g) // [K] when g is
		if len(axes) > 0 {
			s = ReduceSum(s, axes...)
		}
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	norm := Sqrt(sq)
	one := OnesLike(norm)
	factor := Min(Div(maxNorm, AddScalar(norm, 1e-6)), one)
	factor = Where(GreaterThan(maxNorm, ZerosLike(maxNorm)), factor, one)
	out := make([]*Node, len(grads))
	for i, g := range grads {
		out[i] = Mul(g, perModel(factor, g.Rank()))
	}
	return out
}
