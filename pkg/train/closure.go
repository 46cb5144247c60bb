package train

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/go-xla/compute/xla"
	. "github.com/gomlx/gomlx/core/graph"
)

// repeat runs body(j, inv, state) for j = start … start+n-1, n a constant: in a
// compiled loop (whileCount) when n > 1, inline when n is 1 (the go backend, whose
// loops cannot hold what these bodies compute).
func repeat(start *Node, n int, inv, state []*Node, body func(j *Node, inv, state []*Node) []*Node) []*Node {
	_, out := repeatWhile(start, n, inv, state, nil, body)
	return out
}

// repeatWhile is repeat that also stops before an iteration where more(j, inv, state)
// (a bool scalar, built from the loop's own values) is false, and returns how many
// iterations ran (int32 scalar) besides the final state. more is not asked before the
// first iteration: it always runs.
func repeatWhile(start *Node, n int, inv, state []*Node, more func(j *Node, inv, state []*Node) *Node,
	body func(j *Node, inv, state []*Node) []*Node) (ran *Node, final []*Node) {
	if n == 1 {
		return Const(start.Graph(), int32(1)), body(start, inv, state)
	}
	inv = append([]*Node{start}, inv...)
	var cond func(j *Node, inv, state []*Node) *Node
	if more != nil {
		cond = func(j *Node, inv, state []*Node) *Node {
			// j == 0: the first iteration runs whatever more says.
			return LogicalOr(Equal(j, ZerosLike(j)), more(Add(inv[0], j), inv[1:], state))
		}
	}
	return whileCount(start.Graph(), n, inv, state, cond, func(j *Node, inv, state []*Node) []*Node {
		return body(Add(inv[0], j), inv[1:], state)
	})
}

// maxOverRows is ReduceMax(x, 1) for x [K, R, ...]. Inside a loop body it is built
// from elementwise maxima of halves: go-xla v0.4.1 cannot build a ReduceMax there
// ("reductionFn is not a StableHLO closure of main").
func maxOverRows(x *Node) *Node {
	if x.Graph().CurrentFunc().IsMain() {
		return ReduceMax(x, 1)
	}
	for x.Shape().Dimensions[1] > 1 {
		r := x.Shape().Dimensions[1]
		h := r / 2
		m := Max(Slice(x, AxisRange(), AxisRange(0, h)), Slice(x, AxisRange(), AxisRange(h, 2*h)))
		if r%2 == 1 {
			m = Concatenate([]*Node{m, Slice(x, AxisRange(), AxisRange(2*h, r))}, 1)
		}
		x = m
	}
	return Squeeze(x, 1)
}

// whileCount runs body(j, inv, state) for j = 0 … n-1 in a compiled loop (graph.While)
// and returns the number of iterations run and the final state. n is a constant, so
// XLA knows the trip count; cond, when not nil, may end the loop earlier: an iteration
// j < n runs only when cond(j, inv, state) (a bool scalar) holds.
//
// The body sees only its own parameters: the loop-invariant values inv are carried
// through the loop unchanged rather than captured from the enclosing function, because
// go-xla v0.4.1 refuses a binary operation whose operand belongs to an enclosing
// function ("the operands are not part of the function"). For the same reason each
// closure is built with an empty scalar-constant cache (see freshScalars). cond must
// not reduce (go-xla caches one reduction function per builder: see maxOverRows).
func whileCount(g *Graph, n int, inv, state []*Node, cond func(j *Node, inv, state []*Node) *Node,
	body func(j *Node, inv, state []*Node) []*Node) (*Node, []*Node) {
	all := append(append([]*Node{Const(g, int32(0))}, inv...), state...)
	params := func(g *Graph) []*Node {
		out := make([]*Node, len(all))
		for i, x := range all {
			out[i] = Parameter(g, fmt.Sprintf("loop_%d", i), x.Shape())
		}
		return out
	}
	var condFn, loop *Function
	freshScalars(g, func() {
		condFn = NewClosure(g, func(g *Graph) []*Node {
			p := params(g)
			c := LessThan(p[0], Const(g, int32(n)))
			if cond != nil {
				c = LogicalAnd(c, cond(p[0], p[1:1+len(inv)], p[1+len(inv):]))
			}
			return []*Node{c}
		})
	})
	freshScalars(g, func() {
		loop = NewClosure(g, func(g *Graph) []*Node {
			p := params(g)
			j, pInv, pState := p[0], p[1:1+len(inv)], p[1+len(inv):]
			next := body(j, pInv, pState)
			return append(append([]*Node{Add(j, Const(g, int32(1)))}, pInv...), next...)
		})
	})
	out := While(condFn, loop, all...)
	return out[0], out[1+len(inv):]
}

// freshScalars runs build with the graph's cache of scalar constants emptied, and
// restores it afterwards. GoMLX caches scalars (Scalar, AddScalar, MulScalar, …) per
// graph, not per function: a scalar first made in the main function and reused inside
// a closure (or the reverse) would be an operand from another function.
func freshScalars(g *Graph, build func()) {
	f := scalarsField()
	saved := reflect.New(f.Type).Elem()
	field := reflect.NewAt(f.Type, unsafe.Add(unsafe.Pointer(g), f.Offset)).Elem()
	saved.Set(field)
	field.Set(reflect.MakeMap(f.Type))
	defer field.Set(saved)
	build()
}

var scalarsField = sync.OnceValue(func() reflect.StructField {
	f, ok := reflect.TypeFor[Graph]().FieldByName("scalars")
	if !ok || f.Type.Kind() != reflect.Map || f.Type.Key() != reflect.TypeFor[dtypes.DType]() {
		panic("gomlx graph.Graph has no scalars cache of the expected type: update freshScalars for this GoMLX version")
	}
	return f
})

// closuresHere runs build so that the closures GoMLX makes in it (a sort's comparator:
// graph.TopK) are closures of the function being built, a loop body, rather than of
// main, and reports whether it could (false: build did not run). GoMLX v0.28.2 makes
// every closure with g.builder.Main().Closure() (core/graph/function.go:265), and
// go-xla v0.4.1 refuses a sort whose comparator is not a closure of the function the
// sort is in ("Sort comparator must be a closure of the current function"). While build
// runs, the XLA builder's main function (xla.Builder.mainFn, which Main returns and
// GoMLX reads only to make closures and, once, the main function itself) is the
// current function's. Outside a loop body, or on another backend, build just runs.
//
// It reaches three unexported fields by reflection (graph.Graph.builder,
// graph.Function.backendFunc, xla.Builder.mainFn); where they are not as expected
// (another GoMLX or go-xla version) it reports false and the caller builds something
// else. TestSortInALoopIsStillRefusedWithoutTheWorkaround (closure_test.go) fails when
// an upgrade makes it unnecessary.
func closuresHere(g *Graph, build func()) bool {
	if g.CurrentFunc().IsMain() {
		build()
		return true
	}
	f, ok := closureFields()
	if !ok {
		return false
	}
	bi := *(*compute.Builder)(unsafe.Add(unsafe.Pointer(g), f.builder))
	xb, ok := bi.(*xla.Builder)
	if !ok {
		return false
	}
	cur, ok := (*(*compute.Function)(unsafe.Add(unsafe.Pointer(g.CurrentFunc()), f.backendFunc))).(*xla.Function)
	if !ok {
		return false
	}
	main := (**xla.Function)(unsafe.Add(unsafe.Pointer(xb), f.mainFn))
	if *main == nil {
		return false
	}
	saved := *main
	*main = cur
	defer func() { *main = saved }()
	build()
	return true
}

type closureOffsets struct{ builder, backendFunc, mainFn uintptr }

var closureFields = sync.OnceValues(func() (closureOffsets, bool) {
	var o closureOffsets
	b, ok := reflect.TypeFor[Graph]().FieldByName("builder")
	if !ok || b.Type != reflect.TypeFor[compute.Builder]() {
		return o, false
	}
	f, ok := reflect.TypeFor[Function]().FieldByName("backendFunc")
	if !ok || f.Type != reflect.TypeFor[compute.Function]() {
		return o, false
	}
	m, ok := reflect.TypeFor[xla.Builder]().FieldByName("mainFn")
	if !ok || m.Type != reflect.TypeFor[*xla.Function]() {
		return o, false
	}
	return closureOffsets{builder: b.Offset, backendFunc: f.Offset, mainFn: m.Offset}, true
})
