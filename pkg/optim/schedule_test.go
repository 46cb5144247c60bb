package optim

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/spec"
)

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The host formula at the points the README's table names: the warm-up's first and
// last step, the decay's midpoint and end, and beyond.
func TestLearningRateFollowsTheDocumentedFormula(t *testing.T) {
	const lr, f = 0.01, 0.001
	for _, c := range []struct {
		s    spec.Schedule
		n    int64
		want float64
	}{
		{spec.Schedule{Decay: "constant"}, 1, lr},
		{spec.Schedule{Decay: "constant"}, 1000, lr},
		{spec.Schedule{WarmupSteps: 10, Decay: "constant"}, 1, lr / 10},
		{spec.Schedule{WarmupSteps: 10, Decay: "constant"}, 5, lr / 2},
		{spec.Schedule{WarmupSteps: 10, Decay: "constant"}, 10, lr},
		{spec.Schedule{WarmupSteps: 10, Decay: "constant"}, 11, lr},
		{spec.Schedule{WarmupSteps: 10, Decay: "linear", DecaySteps: 100, FinalLearningRate: f}, 10, lr},
		{spec.Schedule{WarmupSteps: 10, Decay: "linear", DecaySteps: 100, FinalLearningRate: f}, 60, (lr + f) / 2},
		{spec.Schedule{WarmupSteps: 10, Decay: "linear", DecaySteps: 100, FinalLearningRate: f}, 110, f},
		{spec.Schedule{WarmupSteps: 10, Decay: "linear", DecaySteps: 100, FinalLearningRate: f}, 5000, f},
		{spec.Schedule{Decay: "cosine", DecaySteps: 100}, 0, lr},
		{spec.Schedule{Decay: "cosine", DecaySteps: 100, FinalLearningRate: f}, 50, (lr + f) / 2},
		{spec.Schedule{Decay: "cosine", DecaySteps: 100, FinalLearningRate: f}, 25, f + (lr-f)*(1+math.Sqrt(0.5))/2},
		{spec.Schedule{Decay: "cosine", DecaySteps: 100, FinalLearningRate: f}, 100, f},
		{spec.Schedule{Decay: "cosine", DecaySteps: 100, FinalLearningRate: f}, 101, f},
	} {
		if got := LearningRate(lr, c.s, c.n); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%+v step %d: %v, want %v", c.s, c.n, got, c.want)
		}
	}
}

// The graph's schedule gives each model its own rate from its own columns, equal to
// the host formula (to float32) at every step.
func TestScheduledRateInAGraphMatchesTheHostFormulaPerModel(t *testing.T) {
	models := []spec.Schedule{
		{WarmupSteps: 0, DecaySteps: 7, FinalLearningRate: 0.002},
		{WarmupSteps: 3, DecaySteps: 5, FinalLearningRate: 0},
		{WarmupSteps: 6, DecaySteps: 1, FinalLearningRate: 0.009},
	}
	lrs := []float32{0.01, 0.1, 0.01}
	col := func(f func(spec.Schedule) float32) []float32 {
		out := make([]float32, len(models))
		for i, m := range models {
			out[i] = f(m)
		}
		return out
	}
	for _, decay := range []string{"constant", "linear", "cosine"} {
		exec, err := NewExec(goBackend(t), func(lr, w, d, f, n *Node) *Node { return ScheduledRate(lr, w, d, f, decay, n) })
		if err != nil {
			t.Fatal(err)
		}
		for n := int32(1); n <= 16; n++ {
			ws := col(func(s spec.Schedule) float32 { return float32(s.WarmupSteps) })
			ds := col(func(s spec.Schedule) float32 { return float32(s.DecaySteps) })
			fs := col(func(s spec.Schedule) float32 { return float32(s.FinalLearningRate) })
			if decay == "constant" {
				ds, fs = make([]float32, 3), make([]float32, 3)
			}
			res, err := exec.Exec(lrs, ws, ds, fs, n)
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](res[0])
			for k, s := range models {
				s.Decay = decay
				if decay == "constant" {
					s.DecaySteps, s.FinalLearningRate = 0, 0
				}
				want := LearningRate(float64(lrs[k]), s, int64(n))
				if math.Abs(float64(got[k])-want) > 1e-6*want+1e-9 {
					t.Errorf("%s model %d step %d: graph %v, formula %v", decay, k, n, got[k], want)
				}
			}
		}
	}
}

func TestCoefficientRampIsLinearFromZeroToOne(t *testing.T) {
	exec, err := NewExec(goBackend(t), CoefficientRamp)
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int32][]float32{1: {1, 0.25, 0.01}, 2: {1, 0.5, 0.02}, 4: {1, 1, 0.04}, 9: {1, 1, 0.09}, 100: {1, 1, 1}, 500: {1, 1, 1}} {
		res, err := exec.Exec([]float32{0, 4, 100}, n)
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](res[0])
		for k := range want {
			if math.Abs(float64(got[k]-want[k])) > 1e-7 {
				t.Errorf("step %d model %d: factor %v, want %v", n, k, got[k], want[k])
			}
		}
	}
}

// Clipping bounds each model's global gradient norm by its own c, leaves a model
// under its bound (or with c = 0) untouched, and so bounds an SGD step's update norm
// by lr·c.
func TestClipGradNormBoundsEachModelsUpdateNorm(t *testing.T) {
	// Three models, two parameters each ([K, 2] and [K, 3]); norms 13, 0.5 and 13.
	g1 := []float32{3, 4, 0.3, 0, 3, 4}
	g2 := []float32{12, 0, 0, 0, 0.4, 0, 12, 0, 0}
	maxNorm := []float32{1, 1, 0}
	exec, err := NewExec(goBackend(t), func(a, b, c *Node) []*Node { return ClipGradNorm([]*Node{a, b}, c) })
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Exec(tensors.FromFlatDataAndDimensions(g1, 3, 2), tensors.FromFlatDataAndDimensions(g2, 3, 3), maxNorm)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
	norm := func(k int) float64 {
		s := 0.0
		for _, v := range a[2*k : 2*k+2] {
			s += float64(v) * float64(v)
		}
		for _, v := range b[3*k : 3*k+3] {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s)
	}
	if n := norm(0); math.Abs(n-1) > 1e-6 {
		t.Errorf("model 0: norm %v after clipping at 1, want 1", n)
	}
	if a[0]/a[1] != 0.75 || math.Abs(float64(b[0])-12.0/13) > 1e-6 {
		t.Errorf("model 0: clipping changed the gradient's direction: %v %v", a[:2], b[:3])
	}
	for i, want := range []float32{0.3, 0, 0, 0.4, 0} { // model 1: norm 0.5 < 1, unchanged
		if got := append(a[2:4:4], b[3:6]...)[i]; got != want {
			t.Errorf("model 1 (under its bound): gradient %d = %v, want %v unchanged", i, got, want)
		}
	}
	for i, want := range []float32{3, 4, 12, 0, 0} { // model 2: c = 0, no clipping
		if got := append(a[4:6:6], b[6:9]...)[i]; got != want {
			t.Errorf("model 2 (c = 0): gradient %d = %v, want %v unchanged", i, got, want)
		}
	}

	// SGD with the clipped gradient: the parameters move by lr·‖clipped g‖ ≤ lr·c.
	clipped := []float32{a[0], a[1], a[2], a[3]}
	moved := run(t, spec.Optimizer{Name: "sgd"}, []float32{0, 0, 0, 0}, [][]float32{clipped}, []float32{0.1, 0.1}, []bool{true, true})
	if d := math.Hypot(float64(moved[0][0]), float64(moved[0][1])); d > 0.1*1+1e-7 {
		t.Errorf("model 0 moved %v, more than lr·c = 0.1", d)
	}
}
