// Command pieces times the parts of saerun's TopK SAE training step (pkg/sae, as
// pkg/train/sae.go assembles them) one by one on a backend, at the sizes of issue 17's
// benchmark (bench/sae/topk.yaml: 512 inputs, 4,096 latents, k 32, batch 4,096): where the
// time of a step goes, next to the whole step with and without AuxK, and the sparse
// decoder of issue 24 (gathers of the k selected decoder rows, scatter-adds for the
// gradients), measured and not taken (bench/sae/README.md).
//
//	go run ./bench/sae/pieces [--backend xla] [--runs 5] [--batch 4096] [--latents 4096] [--only TEXT]
//
// Each piece is one compiled program, called once to warm up and then --runs times; it
// prints the minimum and median wall-clock and CPU milliseconds per call (tab-separated)
// on stdout. Inputs stay on the device between calls. The whole-step rows are the
// forward pass (pre-activations by sae.Encode, as training), the loss and the gradients
// of the four parameters with the decoder-parallel component removed (no Adam update,
// no dead-latent bookkeeping); "AuxK, none dead" is the program a step runs once some
// latent is dead.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/sae"
	"github.com/sparselab/saerun/pkg/sparsity"
)

// sizes are the command's flags.
type sizes struct {
	backend, selection, only string
	runs, B, D, L, k, auxK   int
}

func main() {
	var c sizes
	flag.StringVar(&c.backend, "backend", "xla", "backend: xla, xla:PLUGIN or go")
	flag.StringVar(&c.selection, "select", "", "k-th value selection: sort (sae.SortSelect) or radix (sae.RadixSelect); default as training picks it: sort on XLA, radix otherwise")
	flag.IntVar(&c.runs, "runs", 5, "timed calls per piece (after one warm-up call)")
	flag.IntVar(&c.B, "batch", 4096, "batch size")
	flag.IntVar(&c.D, "dim", 512, "input size")
	flag.IntVar(&c.L, "latents", 4096, "latents")
	flag.IntVar(&c.k, "k", 32, "k of TopK")
	flag.IntVar(&c.auxK, "aux-k", 256, "k of AuxK (dead latents that reconstruct the residual)")
	flag.StringVar(&c.only, "only", "", "time only the pieces whose names contain this text")
	flag.Parse()
	if c.runs < 1 || c.B < 1 || c.D < 1 || c.L < 1 || c.k < 1 || c.k > c.L || c.auxK < 1 || c.auxK > c.L {
		fmt.Fprintln(os.Stderr, "pieces: --runs, --batch, --dim, --latents, --k and --aux-k must be positive, k and aux-k at most latents")
		os.Exit(2)
	}
	if err := run(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "pieces:", err)
		os.Exit(1)
	}
}

// formulas are the step's parts at sizes c with selection sel.
type formulas struct {
	c   sizes
	sel sae.Select
}

func (f formulas) kNode(g *Graph) *Node { return Const(g, []int32{int32(f.c.k)}) }

// encode is the written form of the pre-activations, (x − b_dec)·W_encᵀ + b_enc.
func (f formulas) encode(x, wEnc, bEnc, bDec *Node) *Node {
	return Add(Einsum("kbi,koi->kbo", Sub(x, ExpandAxes(bDec, 1)), wEnc), ExpandAxes(bEnc, 1))
}

// decode is the dense decoder, h·W_decᵀ + b_dec.
func (f formulas) decode(h, wDec, bDec *Node) *Node {
	return Add(Einsum("kbi,koi->kbo", h, wDec), ExpandAxes(bDec, 1))
}

// sparseDecode reconstructs from the k largest pre-activations of z [K, B, L] by
// gathering their decoder directions (rows of W_decᵀ, [K, B, k, D]) rather than by
// the dense product: the formulation of sparsify's decoder. The selected values
// are gathered from z (their gradient is a scatter into [K, B, L]); W_dec's gradient
// is a scatter-add of B·k rows.
func (f formulas) sparseDecode(z, wDec, bDec *Node) *Node {
	g := z.Graph()
	K, B, L := z.Shape().Dimensions[0], z.Shape().Dimensions[1], z.Shape().Dimensions[2]
	D := wDec.Shape().Dimensions[1]
	_, idx := TopK(StopGradient(z), f.c.k, -1) // [K, B, k]
	idx = StopGradient(idx)
	at := func(axis, stride int) *Node {
		return MulScalar(Iota(g, shapes.Make(dtypes.Int32, K, B, 1), axis), stride)
	}
	vals := Gather(Reshape(z, K*B*L), ExpandAxes(Add(idx, Add(at(0, B*L), at(1, L))), -1)) // [K, B, k]
	vals = Max(vals, ZerosLike(vals))
	rows := Gather(Reshape(Transpose(wDec, 1, 2), K*L, D), ExpandAxes(Add(idx, at(0, L)), -1)) // [K, B, k, D]
	return Add(ReduceSum(Mul(rows, ExpandAxes(vals, -1)), 2), ExpandAxes(bDec, 1))
}

// stepOpts choose a step's formulation: with AuxK, the sparse decoder, the written
// encoder.
type stepOpts struct{ aux, sparse, written bool }

// step is the training step's loss and the gradients of the four parameters (W_dec's
// with the parallel part removed), pre-activations by sae.Encode as training computes
// them (written: the written form, whose b_dec gradient is a whole product), the
// decoder dense or by gathers (sparseDecode).
func (f formulas) step(o stepOpts) func(x, wEnc, bEnc, wDec, bDec, dead *Node) []*Node {
	return func(x, wEnc, bEnc, wDec, bDec, dead *Node) []*Node {
		z := sae.Encode(x, wEnc, bEnc, bDec)
		if o.written {
			z = f.encode(x, wEnc, bEnc, bDec)
		}
		var recon *Node
		if o.sparse {
			recon = f.sparseDecode(z, wDec, bDec)
		} else {
			recon = f.decode(sae.KeepTopK(z, f.kNode(x.Graph()), f.c.k, f.sel), wDec, bDec)
		}
		loss := ReduceAllMean(ReduceSum(Square(Sub(recon, x)), -1))
		if o.aux {
			loss = Add(loss, MulScalar(ReduceAllSum(sae.AuxK(z, dead, Sub(x, recon), wDec, f.c.auxK, sparsity.Rows{}, f.sel)), 1.0/32))
		}
		g := Gradient(loss, wEnc, bEnc, wDec, bDec)
		g[2] = sae.ProjectOutParallel(g[2], wDec)
		return append([]*Node{loss}, g...)
	}
}

// run times every piece and writes one "name<TAB>ms" line each to w, after a header.
func run(w io.Writer, c sizes) error {
	b, info, err := backend.Open(c.backend)
	if err != nil {
		return err
	}
	sel, selName := sae.Select(sae.RadixSelect), "radix"
	if backend.IsXLA(b) {
		sel, selName = sae.SortSelect, "sort"
	}
	switch c.selection {
	case "":
	case "sort":
		sel, selName = sae.SortSelect, "sort"
	case "radix":
		sel, selName = sae.RadixSelect, "radix"
	default:
		return fmt.Errorf("--select %q: want sort or radix", c.selection)
	}
	fmt.Fprintf(os.Stderr, "backend %s (%s), selection %s\n", info.Name, info.Detail, selName)

	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(scale float64, dims ...int) *tensors.Tensor { return normal(rng, scale, dims...) }
	x := randn(1, 1, c.B, c.D)
	wEnc := randn(1/float64(c.D), 1, c.L, c.D) // [K, L, D]
	wDec := randn(1/float64(c.D), 1, c.D, c.L) // [K, D, L]
	bEnc := randn(0, 1, c.L)
	bDec := randn(0, 1, c.D)
	noneDead := tensors.FromFlatDataAndDimensions(make([]bool, c.L), 1, c.L)

	f := formulas{c: c, sel: sel}
	kNode, encode, decode, sparseDecode, step := f.kNode, f.encode, f.decode, f.sparseDecode, f.step
	type piece struct {
		name string
		exec func(compute.Backend) (*Exec, error)
		args []any
	}
	// z and h as inputs of the pieces that start from them.
	z, err := call(b, func(x, wEnc, bEnc, bDec *Node) *Node { return encode(x, wEnc, bEnc, bDec) }, x, wEnc, bEnc, bDec)
	if err != nil {
		return err
	}
	h, err := call(b, func(z *Node) *Node { return sae.KeepTopK(z, kNode(z.Graph()), c.k, sel) }, z)
	if err != nil {
		return err
	}
	residual := randn(0.1, 1, c.B, c.D)
	rowsT := randn(1, c.B*c.k, c.D)
	pieces := []piece{
		{"encoder product (x-b_dec)·W_encᵀ+b_enc", mk(func(x, wEnc, bEnc, bDec *Node) *Node { return encode(x, wEnc, bEnc, bDec) }), []any{x, wEnc, bEnc, bDec}},
		{fmt.Sprintf("TopK(%d) values (graph.TopK)", c.k), mk(func(z *Node) *Node { v, _ := TopK(z, c.k, -1); return v }), []any{z}},
		{fmt.Sprintf("sae.KeepTopK k=%d", c.k), mk(func(z *Node) *Node { return sae.KeepTopK(z, kNode(z.Graph()), c.k, sel) }), []any{z}},
		{"decoder product h·W_decᵀ+b_dec (dense)", mk(decode), []any{h, wDec, bDec}},
		{fmt.Sprintf("TopK(%d) values (AuxK's selection)", c.auxK), mk(func(z *Node) *Node { v, _ := TopK(z, c.auxK, -1); return v }), []any{z}},
		{fmt.Sprintf("sae.AuxK forward, aux_k=%d, none dead", c.auxK), mk(func(z, dead, r, wDec *Node) *Node {
			return sae.AuxK(z, dead, r, wDec, c.auxK, sparsity.Rows{}, sel)
		}), []any{z, noneDead, residual, wDec}},
		{"forward + loss (no AuxK)", mk(func(x, wEnc, bEnc, wDec, bDec *Node) *Node {
			rec := decode(sae.KeepTopK(encode(x, wEnc, bEnc, bDec), kNode(x.Graph()), c.k, sel), wDec, bDec)
			return ReduceAllMean(ReduceSum(Square(Sub(rec, x)), -1))
		}), []any{x, wEnc, bEnc, wDec, bDec}},
		{"step: loss + gradients, no AuxK", mk(step(stepOpts{})), []any{x, wEnc, bEnc, wDec, bDec, noneDead}},
		{"step: loss + gradients, AuxK, none dead", mk(step(stepOpts{aux: true})), []any{x, wEnc, bEnc, wDec, bDec, noneDead}},
		{"step: no AuxK, b_dec's gradient through the whole product (written form)", mk(step(stepOpts{written: true})), []any{x, wEnc, bEnc, wDec, bDec, noneDead}},
		{fmt.Sprintf("gather %d rows of W_decᵀ (B·k)", c.B*c.k), mk(func(z, wDec *Node) *Node {
			_, idx := TopK(z, c.k, -1)
			D, L := wDec.Shape().Dimensions[1], wDec.Shape().Dimensions[2]
			return Gather(Reshape(Transpose(wDec, 1, 2), L, D), ExpandAxes(Reshape(idx, c.B*c.k), -1))
		}), []any{z, wDec}},
		{fmt.Sprintf("elementwise ×2 over [%d, D] (the gather's output size: a bandwidth baseline)", c.B*c.k), mk(func(r *Node) *Node {
			return MulScalar(r, 2)
		}), []any{rowsT}},
		{fmt.Sprintf("scatter-add %d rows into [L, D] (B·k)", c.B*c.k), mk(func(z, r *Node) *Node {
			_, idx := TopK(z, c.k, -1)
			D, L := r.Shape().Dimensions[2], z.Shape().Dimensions[2]
			upd := Reshape(BroadcastToDims(ExpandAxes(Reshape(r, c.B, D), 1), c.B, c.k, D), c.B*c.k, D)
			return ScatterSum(Zeros(z.Graph(), shapes.Make(dtypes.Float32, L, D)), ExpandAxes(Reshape(idx, c.B*c.k), -1), upd, false, false)
		}), []any{z, residual}},
		{"sparse decoder forward (gather)", mk(func(z, wDec, bDec *Node) *Node { return sparseDecode(z, wDec, bDec) }), []any{z, wDec, bDec}},
		{"step: sparse decoder (gathers, scatter-adds), no AuxK", mk(step(stepOpts{sparse: true})), []any{x, wEnc, bEnc, wDec, bDec, noneDead}},
	}
	fmt.Fprintf(w, "piece\tmin ms\tmedian ms (of %d calls)\tmin CPU ms\tmedian CPU ms\n", c.runs)
	for _, p := range pieces {
		if c.only != "" && !strings.Contains(p.name, c.only) {
			continue
		}
		ms, cpu, err := timeIt(b, p.exec, p.args, c.runs)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%.1f\n", p.name, ms[0], ms[len(ms)/2], cpu[0], cpu[len(cpu)/2])
	}
	return nil
}

// normal is a tensor of the given dimensions drawn from N(0, scale²).
func normal(rng *rand.Rand, scale float64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// mk defers building fn's program to the backend given.
func mk[F ExecGraphFn](fn F) func(compute.Backend) (*Exec, error) {
	return func(b compute.Backend) (*Exec, error) { return NewExec(b, fn) }
}

// call runs fn once and returns its first output.
func call[F ExecGraphFn](b compute.Backend, fn F, args ...any) (*tensors.Tensor, error) {
	e, err := NewExec(b, fn)
	if err != nil {
		return nil, err
	}
	out, err := e.Exec(args...)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// timeIt compiles fn, calls it once, then runs more times, and returns the wall-clock
// ms and the process's CPU ms (all threads; on a shared machine less disturbed by
// other processes than the wall clock) of the timed calls, each in increasing order
// (each call waits for its outputs: a call returns when they are computed). On a shared
// machine the minimum is the least disturbed.
func timeIt(b compute.Backend, build func(compute.Backend) (*Exec, error), args []any, runs int) (wall, cpu []float64, err error) {
	e, err := build(b)
	if err != nil {
		return nil, nil, err
	}
	defer e.Finalize()
	for i := 0; i <= runs; i++ {
		t0, c0 := time.Now(), cpuSeconds()
		out, err := e.Exec(args...)
		if err != nil {
			return nil, nil, err
		}
		// Exec returns once the outputs are computed (go-xla awaits the device events).
		if i > 0 {
			wall = append(wall, time.Since(t0).Seconds()*1000)
			cpu = append(cpu, (cpuSeconds()-c0)*1000)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
	}
	slices.Sort(wall)
	slices.Sort(cpu)
	return wall, cpu, nil
}

// cpuSeconds is the CPU time the process has used so far, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
