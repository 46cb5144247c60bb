package train

import (
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/optim"
	"github.com/sparselab/saerun/pkg/sparsity"
)

// The training program runs optimizer steps [start, start+stepsPerCall) of an epoch.
// Its inputs are the training set x [N, D] and the epoch's batch indices idx
// [batches, K, B] (both stay on the device between calls), start, hp [K, P], first
// (the epoch's step at idx's first batch: 0, or where a streamed set's chunk starts)
// and the epoch's running tally (see tally); it returns the updated tally, and updates the
// models' parameters, optimizer state and noise generators in place.
//
// On XLA the steps run in a compiled loop (graph.While) of at most stepsPerCall
// iterations, which ends at the end of the epoch (and, for a model with an aux
// program, before a step that needs the other program: see trainProgram); a step past
// the end of the epoch would change nothing (step's inEpoch). The go backend cannot
// take gradients inside a loop (GoMLX v0.28.2), so there it runs one step per call.

// tally is what the host learns of an epoch's training, kept on the device until the
// epoch ends: per model the sums of its step metrics weighted by the batch's sample
// count, whether it is still training, and where its metrics first stopped being finite.
type tally struct {
	sums     *Node // [K, M] float64: Σ over steps of metric × samples in the batch
	active   *Node // [K] bool
	failStep *Node // [K] int32: the step of the epoch whose metrics were not finite; -1
	failLoss *Node // [K] float32: that step's loss
}

func (t tally) list() []*Node { return []*Node{t.sums, t.active, t.failStep, t.failLoss} }

// stepState is everything one step reads and writes.
type stepState struct {
	params []*Node // in the order of autoencoder.Params.All
	opt    []*Node // in the order of Optimizer.State
	extra  []*Node // the model's state (model.state); nil when it has none
	rng    *Node   // nil without input noise or a model's own draws
	steps  *Node   // optimizer steps run so far (int32 scalar; group.steps)
	tally
}

func (s stepState) list() []*Node {
	out := append(append(append([]*Node(nil), s.params...), s.opt...), s.tally.list()...)
	out = append(out, s.extra...)
	if s.rng != nil {
		out = append(out, s.rng)
	}
	return append(out, s.steps)
}

func (gr *group) stateFrom(nodes []*Node) stepState {
	np, no, ne := len(gr.params.All()), len(gr.opt.State()), len(gr.model.state())
	s := stepState{params: nodes[:np:np], opt: nodes[np : np+no : np+no]}
	t := nodes[np+no:]
	s.tally = tally{sums: t[0], active: t[1], failStep: t[2], failLoss: t[3]}
	if ne > 0 {
		s.extra = t[4 : 4+ne : 4+ne]
	}
	if gr.rng != nil {
		s.rng = t[4+ne]
	}
	s.steps = nodes[len(nodes)-1]
	return s
}

// trainGraph builds the training program; aux: the model's aux program (see
// group.trainExecAux). A model with one also returns whether the next call needs it
// and how many steps the call ran (it may end early: see trainProgram).
func (gr *group) trainGraph(aux bool) func(*gmodel.Scope, []*Node) []*Node {
	return func(_ *gmodel.Scope, in []*Node) []*Node { return gr.trainProgram(in, aux) }
}

func (gr *group) trainProgram(in []*Node, aux bool) []*Node {
	x, idx, start, hp, first := in[0], in[1], in[2], hyper{in[3]}, in[4]
	g := x.Graph()
	st := stepState{
		params: optim.Values(g, gr.params.All()),
		opt:    optim.Values(g, gr.opt.State()),
		tally:  tally{sums: in[5], active: in[6], failStep: in[7], failLoss: in[8]},
	}
	if gr.rng != nil {
		st.rng = gr.rng.NodeValue(g)
	}
	st.extra = optim.Values(g, gr.model.state())
	st.steps = gr.steps.NodeValue(g)
	// A model with an aux program carries whether the next step needs it (anyDead
	// after each step; the host called this program because the answer was aux), and
	// the loop ends before a step that needs the other program, or past the epoch's
	// end: each step then runs the program the one-step-per-call path runs it with.
	hasAux := gr.model.hasAux()
	carried := st.list()
	if hasAux {
		carried = append(carried, Const(g, aux))
	}
	more := func(b *Node, _, state []*Node) *Node {
		inEpoch := LessThan(b, Const(b.Graph(), int32(gr.batches)))
		if !hasAux {
			return inEpoch
		}
		stay := state[len(state)-1] // the next step needs aux: this program's if aux
		if !aux {
			stay = LogicalNot(stay)
		}
		return LogicalAnd(inEpoch, stay)
	}
	ran, final := repeatWhile(start, gr.stepsPerCall, []*Node{x, idx, hp.hp, first}, carried, more, func(b *Node, inv, state []*Node) []*Node {
		if hasAux {
			state = state[:len(state)-1]
		}
		next := gr.step(inv[0], inv[1], b, inv[3], hyper{inv[2]}, gr.stateFrom(state), aux)
		out := next.list()
		if hasAux {
			out = append(out, gr.model.anyDead(next.extra, hyper{inv[2]}))
		}
		return out
	})
	var needAux *Node
	if hasAux {
		final, needAux = final[:len(final)-1], final[len(final)-1]
	}
	st = gr.stateFrom(final)
	for i, v := range gr.params.All() {
		v.SetNodeValue(st.params[i])
	}
	for i, v := range gr.opt.State() {
		v.SetNodeValue(st.opt[i])
	}
	if gr.rng != nil {
		gr.rng.SetNodeValue(st.rng)
	}
	for i, v := range gr.model.state() {
		v.SetNodeValue(st.extra[i])
	}
	gr.steps.SetNodeValue(st.steps)
	backend.MarkDonors(g, gr.store) // XLA may update the variables in place
	if hasAux {
		return append(st.tally.list(), needAux, ran)
	}
	return st.tally.list()
}

// step is optimizer step b (int32 scalar) of idx, step first+b of the epoch (a
// streamed set's chunk starts first steps into its epoch), for every model.
func (gr *group) step(x, idx, b, first *Node, hp hyper, st stepState, aux bool) stepState {
	g := x.Graph()
	K, B := idx.Shape().Dimensions[1], idx.Shape().Dimensions[2]
	inEpoch := LessThan(b, Const(g, int32(gr.batches))) // false past the end of the epoch
	b = MinScalar(b, gr.batches-1)
	batch := Gather(x, ExpandAxes(Reshape(Gather(idx, Reshape(b, 1, 1)), K, B), -1)) // [K, B, D]
	rows := sparsity.Rows{}
	samples := Scalar(g, dtypes.Float64, B)
	if gr.rows < B { // the last batch is short: its padding rows are masked out
		n := Where(Equal(b, Const(g, int32(gr.batches-1))), Const(g, int32(gr.rows)), Const(g, int32(B)))
		rows.Mask = ConvertDType(LessThan(Iota(g, shapes.Make(dtypes.Int32, B), 0), n), dtypes.Float32)
		rows.N = ConvertDType(n, dtypes.Float32)
		samples = ConvertDType(n, dtypes.Float64)
	}

	input, rng := batch, st.rng // rng advances only within the epoch: steps past its end draw nothing
	if gr.hasNoise() {
		var noise *Node
		noise, rng = gr.normal(rng, batch.Shape())
		input = Add(batch, Mul(noise, Reshape(hp.noise(), -1, 1, 1)))
	}
	w := gr.params.WeightsFrom(st.params)
	// This step's number over the run, saturating at 2^31 − 1 (far past any schedule's
	// end: warm-ups and decays are at most 2^24 steps each).
	n := AddScalar(MinScalar(st.steps, math.MaxInt32-1), 1)
	o := gr.model.loss(stepIn{w: w, h: hp, state: st.extra, input: input, target: batch, rows: rows,
		samples: samples, step: n, rng: rng, aux: aux, normal: func(states *Node, dims ...int) (*Node, *Node) {
			return gr.normal(states, shapes.Make(dtypes.Float32, dims...))
		}})
	total, metrics, extra, rng := o.total, o.metrics, o.state, o.rng
	for _, p := range gr.penalties(w, o.acts, hp, rows, ConvertDType(samples, dtypes.Float32)) {
		total = Add(total, p)
		metrics = append(metrics, p)
	}
	metrics[0] = total
	m := Stack(metrics, 1) // [K, M]: total loss, reconstruction, the model's terms, each penalty (see metricNames)

	finite := LogicalAll(IsFinite(m), 1)
	update := LogicalAnd(LogicalAnd(st.active, finite), inEpoch)
	grads := Gradient(ReduceAllSum(total), st.params...)
	gr.model.constrainGradients(grads, st.params)
	if gr.recipe.clip {
		grads = optim.ClipGradNorm(grads, hp.clipGradNorm())
	}
	params, opt := gr.opt.Update(st.params, st.opt, grads, gr.learningRate(hp, n), update)
	gr.model.constrainParams(params, update)
	for i := range extra {
		extra[i] = Where(keepShape(update, extra[i]), extra[i], st.extra[i])
	}
	failed := LogicalAnd(LogicalAnd(st.active, LogicalNot(finite)), inEpoch)
	weighted := Mul(ConvertDType(m, dtypes.Float64), samples)
	if rng != nil {
		rng = Where(inEpoch, rng, st.rng)
	}
	steps := Where(inEpoch, n, st.steps) // steps past the end of the epoch are not steps
	return stepState{params: params, opt: opt, extra: extra, rng: rng, steps: steps, tally: tally{
		sums:     Where(update, Add(st.sums, weighted), st.sums),
		active:   LogicalAnd(st.active, LogicalNot(failed)),
		failStep: Where(failed, BroadcastToDims(Add(b, first), K), st.failStep),
		failLoss: Where(failed, Reshape(Slice(m, AxisRange(), AxisElem(0)), K), st.failLoss),
	}}
}

// learningRate is each model's learning rate [K] at step number n (int32 scalar):
// optimizer.schedule's (optim.ScheduledRate), or the constant rate when no member
// has a schedule.
func (gr *group) learningRate(hp hyper, n *Node) *Node {
	if !gr.recipe.schedule {
		return hp.learningRate()
	}
	return optim.ScheduledRate(hp.learningRate(), hp.column(hpWarmupSteps), hp.column(hpDecaySteps),
		hp.column(hpFinalLearningRate), gr.spec.Optimizer.Schedule.Decay, n)
}

// keepShape reshapes the per-model mask [K] to broadcast over x [K, ...].
func keepShape(mask, x *Node) *Node {
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = mask.Shape().Dimensions[0]
	return BroadcastToDims(Reshape(mask, dims...), x.Shape().Dimensions...)
}

// penalties returns each regularizer's penalty [K] for activations acts of a batch of
// n samples.
func (gr *group) penalties(w autoencoder.Weights, acts []*Node, hp hyper, rows sparsity.Rows, n *Node) []*Node {
	out := make([]*Node, len(gr.pens))
	for i, p := range gr.pens {
		out[i] = p.train(penaltyGraph{r: gr.spec.Regularizers[i], w: w, arch: gr.arch, acts: acts,
			weight: hp.weight(i), target: hp.target(i), rows: rows, samples: n})
	}
	return out
}

// normal draws standard normal values of shape [K, ...] for each model from its own
// generator state in states [K, RNG state], and returns the advanced states.
func (gr *group) normal(states *Node, shape shapes.Shape) (draws, next *Node) {
	K := shape.Dimensions[0]
	one := shapes.Make(dtypes.Float32, shape.Dimensions[1:]...)
	var vs, sts []*Node
	for k := 0; k < K; k++ {
		st := Reshape(Slice(states, AxisElem(k), AxisRange()), RNGStateShape.Dimensions...)
		newSt, v := RandomNormal(st, one)
		vs = append(vs, v)
		sts = append(sts, ExpandAxes(newSt, 0))
	}
	return Stack(vs, 0), Concatenate(sts, 0)
}

// loopsHoldGradients reports whether the backend can run training steps inside a
// compiled loop: XLA can; GoMLX's go backend fails on a gradient inside While.
func loopsHoldGradients(b compute.Backend) bool { return backend.IsXLA(b) }

// callBudgetFLOPs is the work one call of the training program may hold on a CPU:
// about two seconds at the 140-200 GFLOP/s that two cores reach (bench/README.md,
// bench/sae/README.md), so that the progress display moves and the host is not idle
// for long. It was half a second until a call was measured to cost about 0.2 s of CPU
// time of its own at the benchmark SAE's shape (0.75 s steps: 4 steps per call took
// 0.90× the CPU time per step of one per call, BenchmarkSAEStepsPerCall).
// Accelerators run a whole epoch per call.
const callBudgetFLOPs = 4e11

// chunkSteps is how many steps one call runs: asked, if given; else the whole epoch
// where it fits the budget, else equal chunks that do.
func chunkSteps(asked, batches int, stepFLOPs float64, b compute.Backend) int {
	if asked > 0 {
		return min(asked, batches)
	}
	if backend.IsAccelerator(b) {
		return batches
	}
	calls := max(1, int(float64(batches)*stepFLOPs/callBudgetFLOPs+0.999))
	return (batches + calls - 1) / calls
}

// callSteps is how many steps one call of the training program runs, where a call
// holds at most batches steps (an epoch's, or a streamed set's chunk's) and an epoch
// has epochSteps: the steps per call of the epoch held whole (chunkSteps), at most
// batches. So a streamed set runs the steps per call the same set in memory runs.
// Sizing the calls by the chunk instead split the benchmark SAE's chunks of 4 steps into
// calls of 2 (4 steps are 3 % over the budget) where in memory it runs 16 steps in
// calls of 4: twice the calls, and 0.84-0.90 of the in-memory rate (bench/sae/README.md).
func callSteps(asked, batches, epochSteps int, stepFLOPs float64, b compute.Backend) int {
	return min(chunkSteps(asked, epochSteps, stepFLOPs, b), batches)
}

// stepFLOPs estimates one optimizer step's work for the group: 2 FLOPs per
// multiply-add forward, 4 backward, for every model and sample.
func (gr *group) stepFLOPs(batch int) float64 {
	macs := 0
	for _, l := range gr.arch.Layers {
		macs += l.In * l.Out
	}
	return 6 * float64(macs) * float64(batch) * float64(len(gr.members))
}
