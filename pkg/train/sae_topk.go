package train

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sparselab/saerun/pkg/sae"
)

// topk: each sample keeps its k largest pre-activations (sae.KeepTopK; Gao et al. 2024).
type saeTopK struct{ saeActivationBase }

func init() { registerSAEActivation("topk", saeTopK{}) }

func (saeTopK) encode(e saeEncode) (*Node, []*Node) {
	return sae.KeepTopK(e.z, e.k(), e.s.kmax, e.s.sel), nil
}
