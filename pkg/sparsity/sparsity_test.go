package sparsity

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func goBackend(t *testing.T) compute.Backend {
	b, err := compute.NewWithConfig("go:ops_sequential") // as backend.Open("go"): the parallel default can deadlock (pkg/backend/gopool_test.go)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eval runs fn on the given inputs and returns its [K] output.
func eval[F ExecGraphFnOneOutput](t *testing.T, fn F, args ...any) []float32 {
	t.Helper()
	out, err := ExecOnce(goBackend(t), fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.8g, want %.8g", name, got, want)
	}
}

// Two models, the second a copy of the first with other hyperparameters: checks the
// formula and that each model uses its own λ, ρ, β.
var h = [][][]float32{{{0.1, 0.5}, {0.3, 0.2}}, {{0.1, 0.5}, {0.3, 0.2}}}

func TestL1ActivityIsLambdaTimesBatchMeanOfSumAbs(t *testing.T) {
	// mean_b Σ_j |h| = (0.6 + 0.5) / 2 = 0.55
	got := eval(t, func(h, l *Node) *Node { return L1Activity(h, l, Rows{}) }, h, []float32{2, 1e-4})
	near(t, "model 0", float64(got[0]), 2*0.55)
	near(t, "model 1", float64(got[1]), 1e-4*0.55)
}

func klAll(h, rho, beta *Node) *Node { return KLSparsity(h, rho, beta, Rows{}) }

// A batch padded with rows that are not samples (the last batch of an epoch) gives
// the penalties of the samples alone.
func TestPaddedRowsAreLeftOutOfBatchMeans(t *testing.T) {
	padded := [][][]float32{{{0.1, 0.5}, {0.3, 0.2}, {9, 9}}}
	rows := func(g *Graph) Rows {
		return Rows{Mask: Const(g, []float32{1, 1, 0}), N: Const(g, float32(2))}
	}
	l1 := eval(t, func(h, l *Node) *Node { return L1Activity(h, l, rows(h.Graph())) }, padded, []float32{2})
	near(t, "L1", float64(l1[0]), 2*0.55)
	kl := eval(t, func(h, r, b *Node) *Node { return KLSparsity(h, r, b, rows(h.Graph())) }, padded, []float32{0.1}, []float32{3})
	near(t, "KL", float64(kl[0]), 0.6128816327291369)
}

func TestKLSparsityMatchesHandComputedValue(t *testing.T) {
	// ρ̂ = (0.2, 0.35); 3·[KL(0.1‖0.2) + KL(0.1‖0.35)] computed by hand (Python, float64).
	got := eval(t, klAll, h, []float32{0.1, 0.2}, []float32{3, 1})
	near(t, "model 0", float64(got[0]), 0.6128816327291369)
	near(t, "model 1 (ρ = ρ̂₀: first unit's term vanishes)", float64(got[1]), KL(0.2, 0.2)+KL(0.2, 0.35))
	near(t, "host version", KLFromMeans([]float64{0.2, 0.35}, 0.1, 3), 0.6128816327291369)
	if KL(0.2, 0.2) != 0 {
		t.Errorf("KL(ρ‖ρ) = %v, want 0", KL(0.2, 0.2))
	}
}

func TestKLSparsityIsFiniteForDeadUnits(t *testing.T) {
	dead := [][][]float32{{{0, 1}, {0, 1}}}
	got := eval(t, klAll, dead, []float32{0.05}, []float32{1})
	if math.IsInf(float64(got[0]), 0) || math.IsNaN(float64(got[0])) {
		t.Errorf("KL with ρ̂ ∈ {0, 1} = %v, want finite (clipped)", got[0])
	}
}

func TestWeightDecayIsHalfLambdaSumOfSquares(t *testing.T) {
	w := [][][]float32{{{1, 2}, {3, 4}}}
	fn := func(w, lambda *Node) *Node { return WeightDecay([]*Node{w, w}, lambda) }
	got := eval(t, fn, w, []float32{0.1})
	near(t, "two kernels of Σw² = 30", float64(got[0]), 0.1/2*60)
}

func TestReconstructionLosses(t *testing.T) {
	recon := [][][]float32{{{0.5, 1.0}, {0.5, 0.9}}}
	target := [][][]float32{{{0, 1}, {1, 0}}}
	mse := eval(t, func(r, x *Node) *Node { return Reconstruction("mse", r, x) }, recon, target)
	near(t, "mse sample 0", float64(mse[0]), (0.25+0)/2)
	near(t, "mse sample 1", float64(mse[1]), (0.25+0.81)/2)
	bce := eval(t, func(r, x *Node) *Node { return Reconstruction("bce", r, x) }, recon, target)
	near(t, "bce sample 1", float64(bce[1]), 1.4978661367769956)
	near(t, "host bce", ReconstructionOne("bce", recon[0][1], target[0][1]), 1.4978661367769956)
	if math.IsInf(float64(bce[0]), 0) {
		t.Errorf("bce with x̂=1, x=1 must be finite (clipped), got %v", bce[0])
	}
}

func TestGaussianKLMatchesHandComputedValue(t *testing.T) {
	// μ = (1, 0), log σ² = (0, ln 2): −½[(1+0−1−1) + (1+ln2−0−2)] = ½(2 − ln 2).
	mu := [][][]float32{{{1, 0}}}
	logVar := [][][]float32{{{0, float32(math.Ln2)}}}
	got := eval(t, GaussianKL, mu, logVar)
	near(t, "KL", float64(got[0]), 0.5*(2-math.Ln2))
	zero := eval(t, GaussianKL, [][][]float32{{{0, 0}}}, [][][]float32{{{0, 0}}})
	near(t, "KL(N(0,1) ‖ N(0,1))", float64(zero[0]), 0)
}

func TestMAPELeavesOutZeroPixels(t *testing.T) {
	recon := [][][]float32{{{0.5, 1.0, 0.2}}}
	target := [][][]float32{{{0, 0.8, 0.25}}}
	sum := eval(t, func(r, x *Node) *Node { s, _ := APE(r, x); return s }, recon, target)
	count := eval(t, func(r, x *Node) *Node { _, c := APE(r, x); return c }, recon, target)
	// |1−0.8|/0.8 + |0.2−0.25|/0.25 = 0.25 + 0.2 over 2 pixels: MAPE 22.5 %.
	near(t, "APE sum", float64(sum[0]), 0.45)
	near(t, "count", float64(count[0]), 2)
}

func TestSummedLossesSumOverFeatures(t *testing.T) {
	recon := [][][]float32{{{0.5, 0.9}}}
	target := [][][]float32{{{1, 0}}}
	got := eval(t, func(r, x *Node) *Node { return Reconstruction("bce_sum", r, x) }, recon, target)
	near(t, "bce_sum", float64(got[0]), 2*1.4978661367769956)
	near(t, "host bce_sum", ReconstructionOne("bce_sum", recon[0][0], target[0][0]), 2*1.4978661367769956)
}
