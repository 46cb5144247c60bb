package backend

import (
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// runsWithin executes, times times, a graph of eight independent matrix products (as in
// an SAE step with AuxK: encoder, decoder, the AuxK decoder and their gradients) on b,
// and reports whether every execution finished within limit. A hung execution is left
// behind (its goroutines are blocked forever): it cannot be cancelled.
func runsWithin(t *testing.T, b compute.Backend, times int, limit time.Duration) bool {
	t.Helper()
	exec, err := NewExec(b, func(x, w *Node) *Node {
		var sum *Node
		for i := range 8 {
			y := Dot(Mul(x, Scalar(x.Graph(), x.DType(), float32(i+1))), w).Product()
			if sum == nil {
				sum = y
			} else {
				sum = Add(sum, y)
			}
		}
		return ReduceAllSum(sum)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := make([][]float32, 128)
	for i := range x {
		x[i] = make([]float32, 256)
		for j := range x[i] {
			x[i][j] = float32((i+j)%7) / 7
		}
	}
	w := make([][]float32, 256)
	for i := range w {
		w[i] = make([]float32, 256)
		for j := range w[i] {
			w[i][j] = float32((i*j)%5) / 5
		}
	}
	for range times {
		done := make(chan error, 1)
		go func() {
			_, err := exec.Exec(x, w)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(limit):
			return false
		}
	}
	exec.Finalize()
	return true
}

// The workaround itself: Open("go") must run operations one after another, or the
// worker pool can deadlock (goConfig). The field and value are gomlx/compute's
// (internal/gobackend: Backend.OpsExecutionType, OpsExecutionSequential = 2); an upgrade
// that renames them fails here, and the setting must be checked again.
func TestGoBackendRunsOperationsSequentially(t *testing.T) {
	b, _, err := Open("go")
	if err != nil {
		t.Fatal(err)
	}
	f := reflect.ValueOf(b).Elem().FieldByName("OpsExecutionType")
	if !f.IsValid() || f.Int() != 2 {
		t.Fatalf("go backend %T: OpsExecutionType %v; want 2 (OpsExecutionSequential): has gomlx/compute changed?", b, f)
	}
}

// The hang of issue 23, on the configuration Open uses: twenty executions of eight
// independent matrix products on two cores, each within a generous limit (one takes
// ~60 ms). With gomlx/compute's default (parallel operations) the first execution
// hangs (measured: 8 of 8 backends).
func TestGoBackendRunsIndependentMatmulsWithoutHangingOnTwoCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	b, _, err := Open("go")
	if err != nil {
		t.Fatal(err)
	}
	if !runsWithin(t, b, 20, 30*time.Second) {
		t.Fatal("an execution hung: the go backend's worker pool deadlocked")
	}
}

// The upstream bug behind goConfig, reproduced deterministically on the pool itself
// (gomlx/compute's internal workerspool, reached by reflection from the backend's
// exported Workers field): tasks holding every slot of the pool each call Saturate,
// as parallel operations running matrix products do. On v0.1.2 they wait for each
// other forever. When an upgrade lets them finish, this test fails: the
// ops_sequential setting may then be dropped (measure the speed of both first).
func TestUpstreamWorkerPoolStillDeadlocksOnNestedSaturate(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	workers := reflect.ValueOf(b).Elem().FieldByName("Workers")
	if !workers.IsValid() {
		t.Fatalf("%T has no Workers field: gomlx/compute changed; check goConfig again", b)
	}
	slots := int(workers.MethodByName("MaxParallelism").Call(nil)[0].Int())
	waitToStart := workers.MethodByName("WaitToStart")
	saturate := workers.MethodByName("Saturate")
	var started, finished sync.WaitGroup
	started.Add(slots)
	finished.Add(slots)
	go func() {
		for range slots {
			waitToStart.Call([]reflect.Value{reflect.ValueOf(func() {
				defer finished.Done()
				started.Done()
				started.Wait() // every slot is held
				saturate.Call([]reflect.Value{reflect.ValueOf(func() {})})
			})})
		}
	}()
	done := make(chan struct{})
	go func() { finished.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatalf("%d nested Saturate calls on a full pool finished: gomlx/compute no longer deadlocks; "+
			"goConfig's ops_sequential may be dropped (pkg/backend/backend.go)", slots)
	case <-time.After(2 * time.Second):
		// Still deadlocked (the goroutines stay blocked; the pool is this test's own).
	}
}
