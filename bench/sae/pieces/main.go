// Command pieces times the parts of saerun's TopK SAE training step (pkg/sae, as
// pkg/train/sae.go assembles them) one by one on a backend, at the sizes of issue 17's
// benchmark (bench/sae/topk.yaml: 512 inputs, 4,096 latents, k 32, batch 4,096): where the
// time of a step goes, next to the whole step with and without AuxK.
//
//	go run ./bench/sae/pieces [--backend xla] [--runs 5] [--batch 4096] [--latents 4096]
//
// Each piece is one compiled program, called once to warm up and then --runs times; it
// prints the median milliseconds per call (tab-separated) on stdout. Inputs stay on the
// device between calls. The whole-step rows are the forward pass, the loss and the
// gradients of the four parameters with the decoder-parallel component removed (no Adam
// update, no dead-latent bookkeeping); "AuxK, none dead" is what a step of the benchmark
// computes (no latent is dead in a short run, but the graph computes AuxK all the same).
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/sae"
	"github.com/sparselab/saerun/pkg/sparsity"
)

// sizes are the command's flags.
type sizes struct {
	backend, selection     string
	runs, B, D, L, k, auxK int
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
	randn := func(scale float64, dims ...int) *tensors.Tensor {
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
	x := randn(1, 1, c.B, c.D)
	wEnc := randn(1/float64(c.D), 1, c.L, c.D) // [K, L, D]
	wDec := randn(1/float64(c.D), 1, c.D, c.L) // [K, D, L]
	bEnc := randn(0, 1, c.L)
	bDec := randn(0, 1, c.D)
	noneDead := tensors.FromFlatDataAndDimensions(make([]bool, c.L), 1, c.L)

	kNode := func(g *Graph) *Node { return Const(g, []int32{int32(c.k)}) }
	encode := func(x, wEnc, bEnc, bDec *Node) *Node {
		return Add(Einsum("kbi,koi->kbo", Sub(x, ExpandAxes(bDec, 1)), wEnc), ExpandAxes(bEnc, 1))
	}
	decode := func(h, wDec, bDec *Node) *Node {
		return Add(Einsum("kbi,koi->kbo", h, wDec), ExpandAxes(bDec, 1))
	}
	// step: loss and gradients of the four parameters (W_dec's with the parallel part removed).
	step := func(aux bool) func(x, wEnc, bEnc, wDec, bDec, dead *Node) []*Node {
		return func(x, wEnc, bEnc, wDec, bDec, dead *Node) []*Node {
			z := encode(x, wEnc, bEnc, bDec)
			h := sae.KeepTopK(z, kNode(x.Graph()), c.k, sel)
			recon := decode(h, wDec, bDec)
			loss := ReduceAllMean(ReduceSum(Square(Sub(recon, x)), -1))
			if aux {
				loss = Add(loss, MulScalar(ReduceAllSum(sae.AuxK(z, dead, Sub(x, recon), wDec, c.auxK, sparsity.Rows{}, sel)), 1.0/32))
			}
			g := Gradient(loss, wEnc, bEnc, wDec, bDec)
			g[2] = sae.ProjectOutParallel(g[2], wDec)
			return append([]*Node{loss}, g...)
		}
	}

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
		{"step: loss + gradients, no AuxK", mk(step(false)), []any{x, wEnc, bEnc, wDec, bDec, noneDead}},
		{"step: loss + gradients, AuxK, none dead", mk(step(true)), []any{x, wEnc, bEnc, wDec, bDec, noneDead}},
	}
	fmt.Fprintf(w, "piece\tmin ms\tmedian ms (of %d calls)\n", c.runs)
	for _, p := range pieces {
		ms, err := timeIt(b, p.exec, p.args, c.runs)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\n", p.name, ms[0], ms[len(ms)/2])
	}
	return nil
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

// timeIt compiles fn, calls it once, then runs more times, and returns the ms of the
// timed calls in increasing order (each waits for its outputs: a call returns when they
// are computed). On a shared machine the minimum is the least disturbed.
func timeIt(b compute.Backend, build func(compute.Backend) (*Exec, error), args []any, runs int) ([]float64, error) {
	e, err := build(b)
	if err != nil {
		return nil, err
	}
	defer e.Finalize()
	var ms []float64
	for i := 0; i <= runs; i++ {
		t0 := time.Now()
		out, err := e.Exec(args...)
		if err != nil {
			return nil, err
		}
		// Exec returns once the outputs are computed (go-xla awaits the device events).
		if i > 0 {
			ms = append(ms, time.Since(t0).Seconds()*1000)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
	}
	slices.Sort(ms)
	return ms, nil
}
