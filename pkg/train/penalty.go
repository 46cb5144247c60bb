package train

import (
	"fmt"
	"sort"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// A regularizer kind (regularizers[i].kind) is one penalty, registered by name in
// penaltyKinds, in a file of its own (penalty_*.go). The group calls it in the
// training step (graph form, per model [K]) and in validation (from the validation
// pass's sums, on the host). Adding a kind is its file here and its name in the spec.
type penalty interface {
	// train is the penalty of a batch, [K].
	train(c penaltyGraph) *Node
	// inGraph reports whether validation takes the penalty from the validation
	// program, which computes train's value on the weights (no activations); else it
	// is computed on the host from the observed layer's statistics.
	inGraph() bool
	// validation is model k's penalty on the validation set: eval is the validation
	// program's value for it (when inGraph), layer the statistics of r.Layer (when
	// r.Layer is set).
	validation(r spec.Regularizer, s *spec.Spec, layer *layerStats, eval float64) float64
}

// penaltyGraph is what a penalty's graph form reads.
type penaltyGraph struct {
	r       spec.Regularizer
	w       autoencoder.Weights
	arch    autoencoder.Arch
	acts    []*Node // per layer; nil in validation
	weight  *Node   // [K] the regularizer's weight (hp)
	target  *Node   // [K] its target (hp)
	rows    sparsity.Rows
	samples *Node // the batch's sample count, float32 scalar
}

// layerActs is the regularized layer's activations.
func (c penaltyGraph) layerActs() *Node { return c.acts[c.arch.Index(c.r.Layer)] }

var penaltyKinds = map[string]penalty{}

func registerPenalty(kind string, p penalty) {
	if _, dup := penaltyKinds[kind]; dup {
		panic("regularizer kind registered twice: " + kind)
	}
	penaltyKinds[kind] = p
}

// KnownPenalties lists the registered regularizer kinds, sorted.
func KnownPenalties() []string {
	out := make([]string, 0, len(penaltyKinds))
	for k := range penaltyKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// penaltiesOf looks up the spec's regularizers; an unknown kind is an error.
func penaltiesOf(s *spec.Spec) ([]penalty, error) {
	out := make([]penalty, len(s.Regularizers))
	for i, r := range s.Regularizers {
		p, ok := penaltyKinds[r.Kind]
		if !ok {
			return nil, fmt.Errorf("regularizers.%d.kind %q: unknown (known: %v)", i, r.Kind, KnownPenalties())
		}
		out[i] = p
	}
	return out, nil
}
