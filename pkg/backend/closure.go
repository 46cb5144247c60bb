package backend

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/gomlx/core/graph"
)

// ClosuresHere runs build so that the closures GoMLX makes in it (a sort's comparator:
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
// else. TestSortInALoopIsStillRefusedWithoutTheWorkaround (pkg/train/closure_test.go) fails when
// an upgrade makes it unnecessary.
func ClosuresHere(g *graph.Graph, build func()) bool {
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
	b, ok := reflect.TypeFor[graph.Graph]().FieldByName("builder")
	if !ok || b.Type != reflect.TypeFor[compute.Builder]() {
		return o, false
	}
	f, ok := reflect.TypeFor[graph.Function]().FieldByName("backendFunc")
	if !ok || f.Type != reflect.TypeFor[compute.Function]() {
		return o, false
	}
	m, ok := reflect.TypeFor[xla.Builder]().FieldByName("mainFn")
	if !ok || m.Type != reflect.TypeFor[*xla.Function]() {
		return o, false
	}
	return closureOffsets{builder: b.Offset, backendFunc: f.Offset, mainFn: m.Offset}, true
})
