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

// Optimizer applies one update step in a graph.
type Optimizer interface {
	// Step replaces each parameter p by its update from grad, with lr [K] the per-model
	// learning rate. Models where active [K] is false keep their parameters and state.
	Step(g *Graph, grads []*Node, lr, active *Node)
}

// New creates the optimizer's state variables (zeros) beside params in store.
func New(store *gmodel.Store, cfg spec.Optimizer, params []*gmodel.Variable) (Optimizer, error) {
	scope := store.RootScope().In("optimizer")
	slot := func(name string, i int, v *gmodel.Variable) *gmodel.Variable {
		return scope.VariableWithValue(fmt.Sprintf("%s_%d", name, i), tensors.FromShape(v.Shape())).SetTrainable(false)
	}
	switch cfg.Name {
	case "sgd":
		o := &sgd{params: params, momentum: cfg.Momentum}
		if cfg.Momentum > 0 {
			for i, p := range params {
				o.velocity = append(o.velocity, slot("velocity", i, p))
			}
		}
		return o, nil
	case "adam":
		o := &adam{params: params, beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Epsilon}
		for i, p := range params {
			o.m = append(o.m, slot("m", i, p))
			o.v = append(o.v, slot("v", i, p))
		}
		o.step = scope.VariableWithValue("step", tensors.FromShape(shapes.Make(dtypes.Float32))).SetTrainable(false)
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
	params   []*gmodel.Variable
	velocity []*gmodel.Variable
	momentum float64
}

// Step: v ← μ·v − lr·g; p ← p + v (plain p ← p − lr·g when μ = 0).
func (o *sgd) Step(g *Graph, grads []*Node, lr, active *Node) {
	grads = materialize(grads)
	deltas := make([]*Node, len(o.params))
	for i, p := range o.params {
		deltas[i] = Neg(Mul(perModel(lr, p.Shape().Rank()), grads[i]))
	}
	if o.momentum > 0 {
		for i := range deltas {
			vOld := o.velocity[i].NodeValue(g)
			deltas[i] = keep(active, Add(MulScalar(vOld, o.momentum), deltas[i]), vOld)
		}
		deltas = materialize(deltas)
		for i, v := range deltas {
			o.velocity[i].SetNodeValue(v)
		}
	}
	for i, p := range o.params {
		old := p.NodeValue(g)
		p.SetNodeValue(keep(active, Add(old, deltas[i]), old))
	}
}

type adam struct {
	params            []*gmodel.Variable
	m, v              []*gmodel.Variable
	step              *gmodel.Variable
	beta1, beta2, eps float64
}

// Step: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − lr · m/(1−β1^t) / (√(v/(1−β2^t)) + ε).
func (o *adam) Step(g *Graph, grads []*Node, lr, active *Node) {
	grads = materialize(grads)
	t := AddScalar(o.step.NodeValue(g), 1)
	o.step.SetNodeValue(t)
	b1 := Scalar(g, dtypes.Float32, o.beta1)
	b2 := Scalar(g, dtypes.Float32, o.beta2)
	debias1 := Reciprocal(OneMinus(Pow(b1, t)))
	debias2 := Reciprocal(OneMinus(Pow(b2, t)))
	moments := make([]*Node, 0, 2*len(o.params)) // m_0, v_0, m_1, v_1, ...
	for i, grad := range grads {
		mOld, vOld := o.m[i].NodeValue(g), o.v[i].NodeValue(g)
		moments = append(moments,
			keep(active, Add(MulScalar(mOld, o.beta1), MulScalar(grad, 1-o.beta1)), mOld),
			keep(active, Add(MulScalar(vOld, o.beta2), MulScalar(Square(grad), 1-o.beta2)), vOld))
	}
	moments = materialize(moments)
	for i, p := range o.params {
		m, v := moments[2*i], moments[2*i+1]
		o.m[i].SetNodeValue(m)
		o.v[i].SetNodeValue(v)
		old := p.NodeValue(g)
		update := Div(Mul(m, debias1), AddScalar(Sqrt(Mul(v, debias2)), o.eps))
		next := Sub(old, Mul(perModel(lr, old.Rank()), update))
		p.SetNodeValue(keep(active, next, old))
	}
}
