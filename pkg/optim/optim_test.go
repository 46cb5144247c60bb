package optim

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/spec"
)

// stepper applies the optimizer with given gradients [K, 2] and learning rates [K] to
// one parameter initialised to p0, returning the parameter after each step.
func run(t *testing.T, cfg spec.Optimizer, p0 []float32, grads [][]float32, lr []float32, active []bool) [][]float32 {
	t.Helper()
	backend, err := compute.NewWithConfig("go:ops_sequential") // as backend.Open("go"): the parallel default can deadlock (pkg/backend/gopool_test.go)
	if err != nil {
		t.Fatal(err)
	}
	store := gmodel.NewStore()
	p := store.RootScope().VariableWithValue("p", tensors.FromFlatDataAndDimensions(p0, len(lr), 2))
	opt, err := New(store, cfg, []*gmodel.Variable{p})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := gmodel.NewExec(backend, store, func(_ *gmodel.Scope, g, lr, active *Node) *Node {
		Step(g.Graph(), opt, []*gmodel.Variable{p}, []*Node{g}, lr, active)
		return p.NodeValue(g.Graph())
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for _, g := range grads {
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(g, len(lr), 2), lr, active)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tensors.MustCopyFlatData[float32](res[0]))
	}
	return out
}

func close(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 { // float32 arithmetic
			t.Errorf("%s[%d] = %.8g, want %.8g (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

func TestSGDWithMomentumMatchesHandComputedSteps(t *testing.T) {
	cfg := spec.Optimizer{Name: "sgd", Momentum: 0.9}
	// Two models with learning rates 0.1 and 0.01; gradients g1 = (1, -2), g2 = (0.5, 0.5).
	got := run(t, cfg, []float32{1, 1, 1, 1},
		[][]float32{{1, -2, 1, -2}, {0.5, 0.5, 0.5, 0.5}}, []float32{0.1, 0.01}, []bool{true, true})
	// step 1: v = -lr g; p = 1 + v
	close(t, "step 1", got[0], []float64{0.9, 1.2, 0.99, 1.02})
	// step 2: v = 0.9 v - lr g2; model 0: v = (-0.09-0.05, 0.18-0.05) → p = (0.76, 1.33);
	// model 1: v = (-0.009-0.005, 0.018-0.005) → p = (0.976, 1.033)
	close(t, "step 2", got[1], []float64{0.76, 1.33, 0.976, 1.033})
}

func TestAdamMatchesHandComputedSteps(t *testing.T) {
	cfg := spec.Optimizer{Name: "adam", Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}
	got := run(t, cfg, []float32{0, 0, 0, 0},
		[][]float32{{1, -2, 1, -2}, {3, 0, 3, 0}}, []float32{0.1, 0.01}, []bool{true, true})
	// Step 1: bias-corrected m̂ = g, v̂ = g², so the step is lr·sign(g).
	close(t, "step 1", got[0], []float64{-0.1, 0.1, -0.01, 0.01})
	// Step 2, first coordinate: m = 0.09+0.3 = 0.39, v = 0.000999+0.009 = 0.009999;
	// m̂ = 0.39/0.19, v̂ = 0.009999/0.001999; step = lr·m̂/√v̂ (Python: 0.91774...).
	m, v := 0.39/0.19, 0.009999/0.001999
	s := m / (math.Sqrt(v) + 1e-7)
	// Second coordinate: m = -0.18, v = 0.003996 → m̂ = -0.18/0.19, v̂ = 0.003996/0.001999.
	m2, v2 := -0.18/0.19, 0.003996/0.001999
	s2 := m2 / (math.Sqrt(v2) + 1e-7)
	close(t, "step 2", got[1], []float64{-0.1 - 0.1*s, 0.1 - 0.1*s2, -0.01 - 0.01*s, 0.01 - 0.01*s2})
}

func TestInactiveModelKeepsItsParameters(t *testing.T) {
	cfg := spec.Optimizer{Name: "adam", Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}
	nan := float32(math.NaN())
	got := run(t, cfg, []float32{1, 1, 1, 1},
		[][]float32{{nan, nan, 1, 1}}, []float32{0.1, 0.1}, []bool{false, true})
	close(t, "frozen model 0 and live model 1", got[0], []float64{1, 1, 0.9, 0.9})
}

// β1 = 0 is valid Adam (the JumpReLU SAE recipe trains with betas (0, 0.999)): m is the
// gradient itself, 1 − β1^t is 1, and the step is lr·g/√v̂.
func TestAdamWithBeta1ZeroMatchesHandComputedSteps(t *testing.T) {
	cfg := spec.Optimizer{Name: "adam", Beta1: 0, Beta2: 0.999, Epsilon: 1e-7}
	got := run(t, cfg, []float32{0, 0, 0, 0},
		[][]float32{{1, -2, 1, -2}, {3, 0, 3, 0}}, []float32{0.1, 0.01}, []bool{true, true})
	close(t, "step 1", got[0], []float64{-0.1, 0.1, -0.01, 0.01})
	// Step 2, first coordinate: m̂ = 3, v = 0.000999+0.009 → v̂ = 0.009999/0.001999;
	// second coordinate: g = 0, so m̂ = 0 and it does not move.
	s := 3 / (math.Sqrt(0.009999/0.001999) + 1e-7)
	close(t, "step 2", got[1], []float64{-0.1 - 0.1*s, 0.1, -0.01 - 0.01*s, 0.01})
}
