package backend

import (
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// updateTwice builds "v += x; return sum(v·w)" with a variable v the graph updates and
// a variable w it only reads, runs it three times and returns v and the outputs.
// marked receives what MarkDonors reported while the graph was built.
func updateTwice(t *testing.T, b compute.Backend, mark bool) (v []float32, outs []float32, marked int) {
	t.Helper()
	store := gmodel.NewStore()
	vv := store.RootScope().VariableWithValue("v", []float32{1, 2, 3})
	ww := store.RootScope().VariableWithValue("w", []float32{1, 10, 100})
	exec, err := gmodel.NewExec(b, store, func(_ *gmodel.Scope, x *Node) *Node {
		g := x.Graph()
		next := Add(vv.NodeValue(g), x)
		vv.SetNodeValue(next)
		if mark {
			marked = MarkDonors(g, store)
		}
		return ReduceAllSum(Mul(next, ww.NodeValue(g)))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	for i := range 3 {
		out, err := exec.Exec([]float32{1, 1, float32(i)})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, tensors.MustCopyFlatData[float32](out[0])...)
	}
	return tensors.MustCopyFlatData[float32](vv.MustValue()), outs, marked
}

func TestMarkDonorsMarksOnlyUpdatedVariablesAndKeepsResults(t *testing.T) {
	plugin := SkipWithoutXLA(t)
	b, _, err := Open("xla:" + plugin)
	if err != nil {
		t.Fatal(err)
	}
	v, outs, marked := updateTwice(t, b, true)
	if marked != 1 {
		t.Errorf("MarkDonors marked %d parameters; want 1 (v is updated, w only read)", marked)
	}
	// v: [1,2,3] + [1,1,0] + [1,1,1] + [1,1,2] = [4,5,6].
	wantV := []float32{4, 5, 6}
	// sums of v·w after each step: [2,3,3]·w=332, [3,4,4]·w=443, [4,5,6]·w=654.
	wantOuts := []float32{332, 443, 654}
	if !slices.Equal(v, wantV) || !slices.Equal(outs, wantOuts) {
		t.Errorf("in place: v %v outputs %v; want %v %v", v, outs, wantV, wantOuts)
	}
	v2, outs2, _ := updateTwice(t, b, false)
	if !slices.Equal(v2, v) || !slices.Equal(outs2, outs) {
		t.Errorf("without donors: v %v outputs %v; with: %v %v", v2, outs2, v, outs)
	}
}

func TestMarkDonorsIsANoOpOnTheGoBackend(t *testing.T) {
	b, _, err := Open("go")
	if err != nil {
		t.Fatal(err)
	}
	v, outs, marked := updateTwice(t, b, true)
	if marked != 0 {
		t.Errorf("marked %d parameters on the go backend; want 0", marked)
	}
	if !slices.Equal(v, []float32{4, 5, 6}) || !slices.Equal(outs, []float32{332, 443, 654}) {
		t.Errorf("v %v outputs %v", v, outs)
	}
}

func TestMallocTuningIsAcceptedOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("glibc's mallopt only")
	}
	if !tuneMalloc() {
		t.Error("mallopt refused the settings (not glibc, or built without cgo?)")
	}
}
