package sae

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/sparsity"
)

var shared = sync.OnceValues(func() (compute.Backend, error) { return compute.NewWithConfig("go:ops_sequential") }) // as backend.Open("go") (pkg/backend/gopool_test.go)

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomTensor is a [dims] float32 tensor of N(mean, 1) draws.
func randomTensor(seed uint64, mean float64, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func run[F ExecGraphFn](t *testing.T, fn F, args ...any) []*tensors.Tensor {
	t.Helper()
	e, err := NewExec(goBackend(t), fn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func nonZerosPerRow(h []float32, rows, width int) []int {
	out := make([]int, rows)
	for r := 0; r < rows; r++ {
		for _, v := range h[r*width : (r+1)*width] {
			if v != 0 {
				out[r]++
			}
		}
	}
	return out
}

var selects = map[string]Select{"sort": SortSelect, "radix": RadixSelect}

// Both selections find exactly the k-th largest value, negative ones, zeros and ties
// included.
func TestSortAndRadixSelectFindTheSameKthLargest(t *testing.T) {
	K, R, n := 2, 5, 40
	z := randomTensor(11, -0.5, K, R, n)
	v := tensors.MustCopyFlatData[float32](z)
	v[3], v[4], v[5] = 0, 0, float32(math.Copysign(0, -1)) // zeros of both signs
	v[n+1], v[n+2] = 7, 7                                  // a tie at the top
	z = tensors.FromFlatDataAndDimensions(v, K, R, n)
	for _, ks := range [][]int32{{1, 2}, {3, 40}, {17, 5}} {
		want := make([]float32, K*R)
		for k := 0; k < K; k++ {
			for r := 0; r < R; r++ {
				row := append([]float32(nil), v[(k*R+r)*n:(k*R+r+1)*n]...)
				sort.Slice(row, func(i, j int) bool { return row[i] > row[j] })
				want[k*R+r] = row[ks[k]-1]
			}
		}
		for name, sel := range selects {
			out := run(t, func(z, k *Node) *Node { return sel(z, k, 40) }, z, ks)
			got := tensors.MustCopyFlatData[float32](out[0])
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s select, k %v: row %d: %v, want %v", name, ks, i, got[i], want[i])
				}
			}
		}
	}
}

func TestTopKKeepsExactlyKNonZerosPerSample(t *testing.T) {
	for name, sel := range selects {
		t.Run(name, func(t *testing.T) { testTopK(t, sel) })
	}
}

func testTopK(t *testing.T, sel Select) {
	K, B, L := 2, 16, 64
	z := randomTensor(1, 1, K, B, L) // mostly positive: the k largest are all > 0
	out := run(t, func(z, k *Node) *Node { return KeepTopK(z, k, 7, sel) }, z, []int32{3, 7})
	h := tensors.MustCopyFlatData[float32](out[0])
	counts := nonZerosPerRow(h, K*B, L)
	for r, c := range counts {
		if want := []int{3, 7}[r/B]; c != want {
			t.Fatalf("model %d sample %d: %d non-zeros, want k = %d", r/B, r%B, c, want)
		}
	}
	// The kept values are the largest ReLU'd pre-activations, unchanged.
	zv := tensors.MustCopyFlatData[float32](z)
	for r := 0; r < K*B; r++ {
		minKept, maxDropped := float32(math.Inf(1)), float32(math.Inf(-1))
		for j := 0; j < L; j++ {
			i := r*L + j
			if h[i] != 0 {
				if h[i] != zv[i] {
					t.Fatalf("kept value %v changed to %v", zv[i], h[i])
				}
				minKept = min(minKept, zv[i])
			} else {
				maxDropped = max(maxDropped, zv[i])
			}
		}
		if maxDropped >= minKept {
			t.Fatalf("row %d drops %v but keeps %v", r, maxDropped, minKept)
		}
	}
}

func TestBatchTopKKeepsKPerSampleOnAverageOverTheBatch(t *testing.T) {
	for name, sel := range selects {
		t.Run(name, func(t *testing.T) { testBatchTopK(t, sel) })
	}
}

func testBatchTopK(t *testing.T, sel Select) {
	K, B, L := 2, 16, 64
	z := randomTensor(2, 1, K, B, L)
	for _, n := range []int{16, 10} { // a full batch, and a last batch of 10 samples and 6 padding rows
		out := run(t, func(z, k, mask, n *Node) []*Node {
			h, m := KeepBatchTopK(z, k, 8, sparsity.Rows{Mask: mask, N: n}, sel)
			return []*Node{h, m}
		}, z, []int32{4, 8}, rowMask(n, B), float32(n))
		h := tensors.MustCopyFlatData[float32](out[0])
		minKept := tensors.MustCopyFlatData[float32](out[1])
		counts := nonZerosPerRow(h, K*B, L)
		for k, kk := range []int{4, 8} {
			total, spread := 0, map[int]bool{}
			for b := 0; b < B; b++ {
				c := counts[k*B+b]
				if b >= n && c != 0 {
					t.Fatalf("padding row %d keeps %d latents", b, c)
				}
				total += c
				spread[c] = true
			}
			if total != kk*n {
				t.Errorf("model %d, %d samples: %d non-zeros, want k·n = %d", k, n, total, kk*n)
			}
			if len(spread) < 2 {
				t.Errorf("model %d: every sample keeps the same count: not a batch-level selection", k)
			}
			smallest := float32(math.Inf(1))
			for _, v := range h[k*B*L : (k+1)*B*L] {
				if v > 0 {
					smallest = min(smallest, v)
				}
			}
			if minKept[k] != smallest {
				t.Errorf("model %d: smallest kept %v, reported %v", k, smallest, minKept[k])
			}
		}
	}
}

func rowMask(n, B int) []float32 {
	m := make([]float32, B)
	for i := 0; i < n; i++ {
		m[i] = 1
	}
	return m
}

func TestBatchTopKThresholdIsAMovingAverageOfTheSmallestKept(t *testing.T) {
	out := run(t, func(theta, m, beta *Node) *Node { return UpdateThreshold(theta, m, beta) },
		[]float32{-1, 2, 2}, []float32{0.5, 1, 0}, []float32{0.9, 0.9, 0.9})
	got := tensors.MustCopyFlatData[float32](out[0])
	want := []float32{0.5, 0.9*2 + 0.1*1, 2} // unset: takes m; set: EMA; nothing kept: unchanged
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("threshold %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// JumpReLU's gradient reaches z through the kept entries and θ through the rectangle
// kernel: ∂/∂θ_j Σ_b h_bj = Σ_b −(θ_j/ε)·K((z_bj − θ_j)/ε) (Rajamanoharan et al. eq. 11).
func TestJumpReLUGradientsArePseudoDerivatives(t *testing.T) {
	K, B, L := 1, 64, 8
	z := randomTensor(3, 0.5, K, B, L)
	theta := tensors.FromFlatDataAndDimensions([]float32{0.2, 0.4, 0.5, 0.6, 0.8, 1, 0.3, 0.45}, K, L)
	eps := float32(0.2)
	out := run(t, func(z, theta, eps *Node) []*Node {
		h := JumpReLU(z, theta, eps)
		g := Gradient(ReduceAllSum(h), z, theta)
		l0 := L0(z, theta, OnesLike(eps), eps, sparsity.Rows{})
		gl0 := Gradient(ReduceAllSum(l0), theta)
		return []*Node{h, g[0], g[1], l0, gl0[0]}
	}, z, theta, []float32{eps})
	zv, th := tensors.MustCopyFlatData[float32](z), tensors.MustCopyFlatData[float32](theta)
	h, gz, gth := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	l0, gl0 := tensors.MustCopyFlatData[float32](out[3]), tensors.MustCopyFlatData[float32](out[4])
	wantTh, wantL0Th := make([]float64, L), make([]float64, L)
	count := 0.0
	for b := 0; b < B; b++ {
		for j := 0; j < L; j++ {
			v, tj := float64(zv[b*L+j]), float64(th[j])
			on := v > tj
			want := 0.0
			if on {
				want = math.Max(v, 0)
				count++
			}
			if math.Abs(float64(h[b*L+j])-want) > 1e-6 {
				t.Fatalf("h[%d,%d] = %v, want %v", b, j, h[b*L+j], want)
			}
			wantGz := 0.0
			if on && v > 0 {
				wantGz = 1
			}
			if float64(gz[b*L+j]) != wantGz {
				t.Fatalf("∂h/∂z[%d,%d] = %v, want %v", b, j, gz[b*L+j], wantGz)
			}
			if u := (v - tj) / float64(eps); u > -0.5 && u < 0.5 {
				wantTh[j] -= tj / float64(eps)
				wantL0Th[j] -= 1 / float64(eps)
			}
		}
	}
	for j := 0; j < L; j++ {
		if math.Abs(float64(gth[j])-wantTh[j]) > 1e-3*math.Max(1, math.Abs(wantTh[j])) {
			t.Errorf("∂Σh/∂θ_%d = %v, want %v", j, gth[j], wantTh[j])
		}
		if math.Abs(float64(gl0[j])-wantL0Th[j]/float64(B)) > 1e-3*math.Max(1, math.Abs(wantL0Th[j])) {
			t.Errorf("∂L0/∂θ_%d = %v, want %v", j, gl0[j], wantL0Th[j]/float64(B))
		}
	}
	if math.Abs(float64(l0[0])-count/float64(B)) > 1e-5 {
		t.Errorf("L0 = %v, want %v active latents per sample", l0[0], count/float64(B))
	}
}

func TestAuxKIsZeroWhenNoLatentIsDead(t *testing.T) {
	K, B, L, D := 1, 8, 16, 4
	out := run(t, func(z, dead, r, w *Node) *Node { return AuxK(z, dead, r, w, 4, sparsity.Rows{}, RadixSelect) },
		randomTensor(4, 0, K, B, L), tensors.FromFlatDataAndDimensions(make([]bool, K*L), K, L),
		randomTensor(5, 0, K, B, D), randomTensor(6, 0, K, D, L))
	if v := tensors.MustCopyFlatData[float32](out[0])[0]; v != 0 {
		t.Fatalf("AuxK with no dead latent = %v, want 0", v)
	}
}

// The residual x − x̂ has no decoder bias, so AuxK's reconstruction must not add one:
// a residual that the dead latents' top activations reconstruct exactly through the
// decoder directions gives a loss of 0 (adding b_dec would make it ‖b_dec‖²-sized).
func TestAuxKReconstructsTheResidualWithoutTheDecoderBias(t *testing.T) {
	K, B, L, D, kAux := 1, 8, 16, 4, 3
	z := randomTensor(7, 1, K, B, L)
	w := randomTensor(8, 0, K, D, L)
	deadMask := make([]bool, L)
	for j := 0; j < L; j += 2 {
		deadMask[j] = true
	}
	// The residual the dead latents' top kAux ReLU'd pre-activations make, on the host.
	zv, wv := tensors.MustCopyFlatData[float32](z), tensors.MustCopyFlatData[float32](w)
	r := make([]float32, B*D)
	for b := 0; b < B; b++ {
		var vals []float32
		for j := 0; j < L; j++ {
			if deadMask[j] {
				vals = append(vals, zv[b*L+j])
			}
		}
		for n := 0; n < kAux; n++ { // the kAux largest among the dead
			best := 0
			for i := range vals {
				if vals[i] > vals[best] {
					best = i
				}
			}
			j := 2 * best
			for d := 0; d < D; d++ {
				r[b*D+d] += max(vals[best], 0) * wv[d*L+j]
			}
			vals[best] = float32(math.Inf(-1))
		}
	}
	for name, sel := range selects {
		out := run(t, func(z, dead, r, w *Node) *Node { return AuxK(z, dead, r, w, kAux, sparsity.Rows{}, sel) },
			z, tensors.FromFlatDataAndDimensions(deadMask, K, L), tensors.FromFlatDataAndDimensions(r, K, B, D), w)
		if v := tensors.MustCopyFlatData[float32](out[0])[0]; v > 1e-5 {
			t.Fatalf("%s select: AuxK of an exactly reconstructible residual = %v, want 0", name, v)
		}
	}
}

func TestDecoderGradientLosesItsParallelPartAndColumnsRenormalise(t *testing.T) {
	K, D, L := 2, 5, 7
	out := run(t, func(g, w *Node) []*Node {
		unit := UnitColumns(w)
		return []*Node{unit, ProjectOutParallel(g, unit)}
	}, randomTensor(9, 0, K, D, L), randomTensor(10, 0, K, D, L))
	w, g := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	for k := 0; k < K; k++ {
		for j := 0; j < L; j++ {
			norm, dot := 0.0, 0.0
			for d := 0; d < D; d++ {
				i := (k*D+d)*L + j
				norm += float64(w[i]) * float64(w[i])
				dot += float64(w[i]) * float64(g[i])
			}
			if math.Abs(math.Sqrt(norm)-1) > 1e-6 || math.Abs(dot) > 1e-5 {
				t.Fatalf("model %d latent %d: norm %v, gradient·direction %v", k, j, math.Sqrt(norm), dot)
			}
		}
	}
}

func TestWeightedL1WeighsEachLatentByItsDecoderNorm(t *testing.T) {
	h := tensors.FromFlatDataAndDimensions([]float32{1, -2, 0, 3}, 1, 2, 2) // 2 samples, 2 latents
	w := tensors.FromFlatDataAndDimensions([]float32{3, 0, 4, 2}, 1, 2, 2)  // columns (3,4) norm 5 and (0,2) norm 2
	out := run(t, func(h, w, l *Node) *Node { return WeightedL1(h, w, l, sparsity.Rows{}) }, h, w, []float32{0.5})
	// mean over samples of Σ_j |h_j|·‖d_j‖ = ((1·5 + 2·2) + (0 + 3·2)) / 2 = 7.5, times λ.
	if v := tensors.MustCopyFlatData[float32](out[0])[0]; math.Abs(float64(v)-0.5*7.5) > 1e-6 {
		t.Fatalf("weighted L1 = %v, want %v", v, 0.5*7.5)
	}
}

func TestGeometricMedianIgnoresAnOutlierTheMeanFollows(t *testing.T) {
	x := []float32{0, 0, 1, 0, 0, 1, 1, 1, 100, 100} // a unit square's corners and an outlier
	med := GeometricMedian(x, 5, 2)
	mean := Mean(x, 5, 2)
	dist := func(p0, p1 float64) float64 {
		s := 0.0
		for i := 0; i < 5; i++ {
			s += math.Hypot(float64(x[2*i])-p0, float64(x[2*i+1])-p1)
		}
		return s
	}
	if med[0] < 0 || med[0] > 1 || med[1] < 0 || med[1] > 1 {
		t.Errorf("geometric median %v, want inside the square", med)
	}
	best := dist(float64(med[0]), float64(med[1]))
	for _, d := range [][2]float64{{1e-3, 0}, {-1e-3, 0}, {0, 1e-3}, {0, -1e-3}} {
		if dist(float64(med[0])+d[0], float64(med[1])+d[1]) < best-1e-9 {
			t.Errorf("moving the median by %v lowers the sum of distances: not the minimum", d)
		}
	}
	if mean[0] < 20 {
		t.Errorf("mean %v should follow the outlier", mean)
	}
	if c := NormalizingScale(x[:8], 4, 2); math.Abs(c-1/math.Sqrt(1)) > 1e-9 { // mean ‖x‖² = (0+1+1+2)/4 = 1
		t.Errorf("scale %v, want 1", c)
	}
}

// Under the decoder constraint the decoder-norm weighting of the L1 term gives W_dec
// no gradient: ∂(|h_j|·‖d_j‖)/∂d_j = |h_j|·d_j/‖d_j‖ lies along d_j, which
// ProjectOutParallel removes (and with unit directions the weights are 1). The
// weighting matters only where the directions' norms are free.
func TestWeightedL1GivesTheProjectedDecoderGradientNothing(t *testing.T) {
	K, B, D, L := 2, 6, 5, 7
	out := run(t, func(h, w *Node) []*Node {
		unit := UnitColumns(w)
		h = Abs(h)
		g := Gradient(ReduceAllSum(WeightedL1(h, unit, OnesLike(ReduceSum(unit, 1, 2)), sparsity.Rows{})), unit)[0]
		return []*Node{g, ProjectOutParallel(g, unit)}
	}, randomTensor(11, 0, K, B, L), randomTensor(12, 0, K, D, L))
	norm := func(v []float32) float64 {
		s := 0.0
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	raw, projected := norm(tensors.MustCopyFlatData[float32](out[0])), norm(tensors.MustCopyFlatData[float32](out[1]))
	t.Logf("decoder gradient of the weighted L1: ‖g‖ %.4g before the projection, %.3g after", raw, projected)
	if !(raw > 0.1) || projected > 1e-5*raw {
		t.Errorf("decoder gradient norm %v before the projection, %v after: want > 0, then 0", raw, projected)
	}
}

// Encode computes the written form W_enc (x − b_dec) + b_enc to the bit, and the same
// gradients: W_enc's and b_enc's to the bit, b_dec's up to the order of the batch sum.
func TestEncodeIsTheWrittenFormWithACheaperBDecGradient(t *testing.T) {
	const K, B, D, L = 2, 7, 5, 11
	x, wEnc, bEnc, bDec := randomTensor(1, 3, K, B, D), randomTensor(2, 0, K, L, D), randomTensor(3, 0, K, L), randomTensor(4, 2, K, D)
	wOut := randomTensor(5, 0, K, B, L) // a loss Σ wOut·relu(z): gradients of every kind
	grads := func(enc func(x, wEnc, bEnc, bDec *Node) *Node) []*tensors.Tensor {
		return run(t, func(x, wEnc, bEnc, bDec, wOut *Node) []*Node {
			z := enc(x, wEnc, bEnc, bDec)
			loss := ReduceAllSum(Mul(wOut, Max(z, ZerosLike(z))))
			return append([]*Node{z}, Gradient(loss, wEnc, bEnc, bDec)...)
		}, x, wEnc, bEnc, bDec, wOut)
	}
	written := grads(func(x, wEnc, bEnc, bDec *Node) *Node {
		return Add(Einsum("kbi,koi->kbo", Sub(x, ExpandAxes(bDec, 1)), wEnc), ExpandAxes(bEnc, 1))
	})
	got := grads(Encode)
	for i, name := range []string{"z", "W_enc's gradient", "b_enc's gradient", "b_dec's gradient"} {
		wf, gf := tensors.MustCopyFlatData[float32](written[i]), tensors.MustCopyFlatData[float32](got[i])
		for j := range wf {
			if i < 3 && wf[j] != gf[j] || math.Abs(float64(wf[j]-gf[j])) > 1e-4*(1+math.Abs(float64(wf[j]))) {
				t.Fatalf("%s [%d]: %v, written form: %v", name, j, gf[j], wf[j])
			}
		}
	}
}
