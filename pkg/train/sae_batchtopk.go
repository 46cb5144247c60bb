package train

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/sae"
)

// batchtopk: in training a batch of n samples keeps its k·n largest pre-activations
// (sae.KeepBatchTopK; Bussmann et al. 2024); in evaluation one learned threshold θ per
// model (sae.Threshold), a moving average of the smallest activation each training
// batch keeps (model.sae.threshold_momentum). θ is state, not a parameter.
type saeBatchTopK struct{ saeActivationBase }

func init() { registerSAEActivation("batchtopk", saeBatchTopK{}) }

func (saeBatchTopK) newState(scope *gmodel.Scope, K int) []*gmodel.Variable {
	return []*gmodel.Variable{scope.VariableWithValue("threshold", initialThreshold(K)).SetTrainable(false)}
}

func (saeBatchTopK) resetState(vars []*gmodel.Variable, K int) error {
	return autoencoder.SetVariable(vars[0], initialThreshold(K))
}

// initialThreshold is θ before the first step: -1 (not yet set) per model.
func initialThreshold(K int) *tensors.Tensor {
	t := make([]float32, K)
	for i := range t {
		t[i] = -1
	}
	return tensors.FromFlatDataAndDimensions(t, K)
}

func (saeBatchTopK) encode(e saeEncode) (*Node, []*Node) {
	if !e.training {
		return sae.Threshold(e.z, e.state[0]), nil
	}
	h, minKept := sae.KeepBatchTopK(e.z, e.k(), e.s.kmax, e.rows, e.s.sel)
	return h, []*Node{sae.UpdateThreshold(e.state[0], minKept, e.s.hp(e.h, hpSAEMomentum))}
}

func (saeBatchTopK) threshold(s *saeModel) *gmodel.Variable { return s.actState[0] }
