// Package optim updates the stacked parameters of K models: SGD with classical momentum
// and Adam, each model with its own learning rate and state.
//
// GoMLX's own optimizers share one scalar learning rate across all variables, and its
// SGD has no momentum and decays the rate with 1/√step; a sweep that varies the learning
// rate inside one compiled graph needs a per-model rate, and the reference notebooks
// use momentum. Both rules are elementwise, so model k's update depends on model k's
// gradient only: a model trains exactly as it would alone.
package optim

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/spec"
)

// Optimizer computes one update step in a graph. It is written as a pure function of
// node values (parameters and state in, parameters and state out) so that a step can
// run inside a compiled loop (graph.While), where the values are loop-carried state
// rather than the store's variables.
type Optimizer interface {
	// State returns the optimizer's state variables (moments, velocities, step count), in
	// the order Update takes and returns their values.
	State() []*gmodel.Variable
	// Update returns the parameters and state after one step from grads, with lr [K] the
	// per-model learning rate. Models where active [K] is false keep their parameters and
	// state.
	Update(params, state, grads []*Node, lr, active *Node) (newParams, newState []*Node)
}

// Step applies one update to the variables params (and the optimizer's own state
// variables) in g: the single-step form of Update.
func Step(g *Graph, o Optimizer, params []*gmodel.Variable, grads []*Node, lr, active *Node) {
	newParams, newState := o.Update(Values(g, params), Values(g, o.State()), grads, lr, active)
	for i, v := range params {
		v.SetNodeValue(newParams[i])
	}
	for i, v := range o.State() {
		v.SetNodeValue(newState[i])
	}
}

// Values returns the variables' current values in g, in order.
func Values(g *Graph, vars []*gmodel.Variable) []*Node {
	out := make([]*Node, len(vars))
	for i, v := range vars {
		out[i] = v.NodeValue(g)
	}
	return out
}

// New creates the optimizer's state variables (zeros) for params in store.
func New(store *gmodel.Store, cfg spec.Optimizer, params []*gmodel.Variable) (Optimizer, error) {
	scope := store.RootScope().In("optimizer")
	slot := func(name string, i int, v *gmodel.Variable) *gmodel.Variable {
		return scope.VariableWithValue(fmt.Sprintf("%s_%d", name, i), tensors.FromShape(v.Shape())).SetTrainable(false)
	}
	switch cfg.Name {
	case "sgd":
		o := &sgd{momentum: cfg.Momentum}
		if cfg.Momentum > 0 {
			for i, p := range params {
				o.velocity = append(o.velocity, slot("velocity", i, p))
			}
		}
		return o, nil
	case "adam":
		o := &adam{beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Epsilon}
		for i, p := range params {
			o.state = append(o.state, slot("m", i, p), slot("v", i, p))
		}
		o.state = append(o.state, scope.VariableWithValue("step", tensors.FromShape(shapes.Make(dtypes.Float32))).SetTrainable(false))
		return o, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (allowed: %v)", cfg.Name, spec.Optimizers)
}

// perModel reshapes x [K] to broadcast against a [K, ...] tensor of rank r.
func perModel(x *Node, r int) *Node {
	dims := make([]int, r)
	dims[0] = x.Shape().Dimensions[0]
	for i := 1; i < r; i++ {
		dims[i] = 1
	}
	return Reshape(x, dims...)
}

// keep returns next where the model is active, else old.
func keep(active, next, old *Node) *Node { return Where(active, next, old) }

// materialize returns xs, computed in full before anything reads them. Without it XLA
// recomputes cheap elementwise values inside each consumer, so a variable's old value
// (an Adam moment, say) stays in use after its new value is written; and a kernel's
// update could run before the backward pass has read the old kernel. XLA must then
// copy every variable before updating it in place (backend.MarkDonors), which costs
// more than it saves. With the gradients and the new optimizer state materialized,
// each old value is dead before its new value is written: no copies.
func materialize(xs []*Node) []*Node {
	if len(xs) < 2 {
		return xs // a single-operand barrier is a no-op in go-xla
	}
	return OptimizationBarriers(xs...)
}

type sgd struct {
	velocity []*gmodel.Variable // one per parameter when momentum > 0
	momentum float64
}

func (o *sgd) State() []*gmodel.Variable { return o.velocity }

// Update: v ← μ·v − lr·g; p ← p + v (plain p ← p − lr·g when μ = 0).
func (o *sgd) Update(params, state, grads []*Node, lr, active *Node) ([]*Node, []*Node) {
	grads = materialize(grads)
	deltas := make([]*Node, len(params))
	for i, p := range params {
		deltas[i] = Neg(Mul(perModel(lr, p.Rank()), grads[i]))
	}
	var newState []*Node
	if o.momentum > 0 {
		for i := range deltas {
			vOld := state[i]
			deltas[i] = keep(active, Add(MulScalar(vOld, o.momentum), deltas[i]), vOld)
		}
		deltas = materialize(deltas)
		newState = deltas
	}
	newParams := make([]*Node, len(params))
	for i, old := range params {
		newParams[i] = keep(active, Add(old, deltas[i]), old)
	}
	return newParams, newState
}

type adam struct {
	state             []*gmodel.Variable // m_0, v_0, m_1, v_1, ..., step
	beta1, beta2, eps float64
}

func (o *adam) State() []*gmodel.Variable { return o.state }

// Update: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − lr · m/(1−β1^t) / (√(v/(1−β2^t)) + ε).
func (o *adam) Update(params, state, grads []*Node, lr, active *Node) ([]*Node, []*Node) {
	grads = materialize(grads)
	g := grads[0].Graph()
	// t counts the steps in which some model trained: steps where none did (all
	// diverged, or a loop's steps past the end of the epoch) leave it as it was.
	t0 := state[len(state)-1]
	t := Where(LogicalAny(active), AddScalar(t0, 1), t0)
	b1 := Scalar(g, dtypes.Float32, o.beta1)
	b2 := Scalar(g, dtypes.Float32, o.beta2)
	debias1 := Reciprocal(OneMinus(Pow(b1, t)))
	debias2 := Reciprocal(OneMinus(Pow(b2, t)))
	moments := make([]*Node, 0, 2*len(params)) // m_0, v_0, m_1, v_1, ...
	for i, grad := range grads {
		mOld, vOld := state[2*i], state[2*i+1]
		moments = append(moments,
			keep(active, Add(MulScalar(mOld, o.beta1), MulScalar(grad, 1-o.beta1)), mOld),
			keep(active, Add(MulScalar(vOld, o.beta2), MulScalar(Square(grad), 1-o.beta2)), vOld))
	}
	moments = materialize(moments)
	newParams := make([]*Node, len(params))
	for i, old := range params {
		m, v := moments[2*i], moments[2*i+1]
		update := Div(Mul(m, debias1), AddScalar(Sqrt(Mul(v, debias2)), o.eps))
		next := Sub(old, Mul(perModel(lr, old.Rank()), update))
		newParams[i] = keep(active, next, old)
	}
	return newParams, append(moments, t)
}
