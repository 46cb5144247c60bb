package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/sae"
)

func TestRunTimesEveryPieceOnTheGoBackend(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, sizes{backend: "go", runs: 1, B: 8, D: 6, L: 16, k: 3, auxK: 4}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 16 || !strings.HasPrefix(lines[0], "piece\t") {
		t.Fatalf("want a header and 15 pieces, got:\n%s", out.String())
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Errorf("line %q: want name<TAB>min ms<TAB>median ms<TAB>min CPU ms<TAB>median CPU ms", l)
			continue
		}
		lo, err1 := strconv.ParseFloat(f[1], 64)
		mid, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || !(lo >= 0 && mid >= lo) {
			t.Errorf("line %q: want 0 <= min <= median", l)
		}
	}
}

// The sparse decoder (gathers of the k selected decoder rows) is the dense decoder's
// step in another form: the same loss and the same gradients of all four parameters,
// so what the benchmark times side by side trains the same SAE.
func TestSparseDecoderStepEqualsTheDenseStep(t *testing.T) {
	backends := map[string]string{"go": "go"}
	if _, ok := backend.FindPlugin(); ok || backend.XLARequired() {
		backends["xla"] = "xla"
	}
	for name, cfg := range backends {
		t.Run(name, func(t *testing.T) {
			b, _, err := backend.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := sizes{B: 16, D: 6, L: 24, k: 4, auxK: 4}
			f := formulas{c: c, sel: sae.RadixSelect}
			if backend.IsXLA(b) {
				f.sel = sae.SortSelect
			}
			rng := rand.New(rand.NewPCG(3, 4))
			randn := func(scale float64, dims ...int) *tensors.Tensor { return normal(rng, scale, dims...) }
			args := []any{randn(1, 1, c.B, c.D), randn(0.5, 1, c.L, c.D), randn(0.1, 1, c.L), randn(0.5, 1, c.D, c.L), randn(0.1, 1, c.D),
				tensors.FromFlatDataAndDimensions(make([]bool, c.L), 1, c.L)}
			run := func(o stepOpts) [][]float32 {
				e, err := NewExec(b, f.step(o))
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.Exec(args...)
				if err != nil {
					t.Fatal(err)
				}
				vals := make([][]float32, len(out))
				for i, o := range out {
					vals[i] = tensors.MustCopyFlatData[float32](o)
				}
				return vals
			}
			dense, sparse := run(stepOpts{}), run(stepOpts{sparse: true})
			names := []string{"loss", "dW_enc", "db_enc", "dW_dec", "db_dec"}
			for i := range dense {
				for j := range dense[i] {
					if d, s := float64(dense[i][j]), float64(sparse[i][j]); math.Abs(d-s) > 1e-5*math.Max(1, math.Abs(d)) {
						t.Fatalf("%s[%d]: dense %v, sparse %v", names[i], j, d, s)
					}
				}
			}
			if dense[0][0] == 0 || slices.Max(dense[3]) == 0 {
				t.Fatalf("degenerate inputs: loss %v", dense[0][0])
			}
		})
	}
}
