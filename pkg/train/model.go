package train

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// A model kind (model.kind: autoencoder, vae, sae) is one implementation of model,
// registered by name in modelKinds: it owns its forward pass, its named loss terms, its
// validation metrics, and the state besides the weights that a step carries and a
// checkpoint must hold. The group (group.go) owns what every kind shares: the
// parameters' variables, the optimizer, the data on the device, the compiled loops,
// the regularizers (penalty.go) and the per-unit statistics. The training step,
// validation, recording and the host loop call only this interface: a new kind is a
// new file that registers itself, not a branch in each of them.
type model interface {
	// hyper are the model's per-model hyperparameter columns of hp (after the
	// regularizers'), for one member's spec: values that may differ inside a group.
	hyper(s *spec.Spec) []float32

	// state are the variables besides the parameters and the optimizer state that
	// training carries from step to step, in the order the step carries them
	// (e.g. an SAE's silence counters and a BatchTopK's threshold). A checkpoint must
	// hold them (see group.checkpointVariables); they are not trainable. Host-side
	// switches are functions of them: the aux program runs the steps after which
	// anyDead (of this state) was true, so a restored model recomputes it.
	state() []*gmodel.Variable
	// reset gives the state its initial values for K models (a reused group).
	reset(K int) error
	// usesRNG reports whether the step draws random numbers besides input noise.
	usesRNG() bool
	// hasAux reports whether the model has a second training program (an SAE's AuxK),
	// chosen by the host after a call whose anyDead said so; a call of either program
	// ends before a step whose anyDead (after the step before) asks for the other.
	hasAux() bool
	// anyDead is, after a training step, whether the next step needs the aux program
	// (only asked when hasAux).
	anyDead(state []*Node, h hyper) *Node

	// loss is one training step's forward pass and loss terms.
	loss(in stepIn) stepOut
	// trainNames names loss's metric columns ("loss", "reconstruction", then the
	// model's own terms); the regularizers' penalties follow them.
	trainNames() []string
	// constrainGradients changes the gradients before the optimizer step, and
	// constrainParams the parameters after it (for the models where update is true).
	constrainGradients(grads, params []*Node)
	constrainParams(params []*Node, update *Node)

	// forward is the evaluation forward pass over x [K, B, D]: Acts per layer of the
	// architecture, Recon in the units the model trains in.
	forward(w autoencoder.Weights, h hyper, state []*Node, x *Node) autoencoder.Output
	// firing says when unit activations a of layer count as active (the per-unit
	// statistics and every metric built on them): the one definition of firing.
	firing(layer autoencoder.Layer) func(a *Node) *Node
	// observed are layers whose statistics validation needs besides the recorded
	// and regularized ones.
	observed() []string
	// evalNames names the per-sample terms validation sums besides the
	// reconstruction loss; evalTerms computes them [K, E], in that order, for a batch
	// x [K, E, D] and its output.
	evalNames() []string
	evalTerms(w autoencoder.Weights, out autoencoder.Output, x *Node) []namedTerm
	// validation turns model k's validation sums into its metrics besides the loss
	// and the reconstruction: terms are added into the loss (and listed after the
	// reconstruction), info follows them; the regularizers' penalties come next.
	validation(k int, v valSums) (terms, info []Metric)
	// epochMetrics are training metrics read from the state at the end of an epoch,
	// per model (nil: none).
	epochMetrics() ([][]Metric, error)

	// dataUnits maps a reconstruction from the units the model trains in to the data's.
	dataUnits(recon *Node) *Node
	// export turns the stored layers of model k into the data's units and adds
	// what else a trained model needs (thresholds).
	export(layers [][]LayerWeights) ([][]LayerWeights, error)
	// inputScale is the factor the inputs are multiplied by (NaN where the kind has none).
	inputScale() float64
	// prior is the fixed draws a generative model decodes on recorded epochs, or nil.
	prior() *tensors.Tensor
}

// newModelFunc builds a kind's model for group gr before its parameters exist: it may
// set gr.arch's initial values and returns the training and validation sets as the
// device is to hold them.
type newModelFunc func(gr *group, store *gmodel.Store, b compute.Backend) (m model, xTrain, xVal []float32, err error)

// modelKinds are the model kinds by model.kind.
var modelKinds = map[string]newModelFunc{}

func registerModel(kind string, f newModelFunc) {
	if _, dup := modelKinds[kind]; dup {
		panic("model kind registered twice: " + kind)
	}
	modelKinds[kind] = f
}

// KnownModelKinds lists the registered model kinds, sorted.
func KnownModelKinds() []string {
	out := make([]string, 0, len(modelKinds))
	for k := range modelKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newModel(gr *group, store *gmodel.Store, b compute.Backend) (model, []float32, []float32, error) {
	kind := gr.spec.Model.Kind
	if kind == "" {
		kind = "autoencoder"
	}
	f, ok := modelKinds[kind]
	if !ok {
		return nil, nil, nil, fmt.Errorf("model.kind %q: unknown (known: %v)", kind, KnownModelKinds())
	}
	return f(gr, store, b)
}

// stepIn is what a model's training step reads.
type stepIn struct {
	w       autoencoder.Weights
	h       hyper
	state   []*Node // the model's state values (model.state's order)
	input   *Node   // the batch [K, B, D] as the models see it (with input noise)
	target  *Node   // the batch [K, B, D] to reconstruct
	rows    sparsity.Rows
	samples *Node // the batch's sample count, float64 scalar
	step    *Node // the step's number n = 1, 2, … over the run, int32 scalar
	rng     *Node // the models' generator states [K, RNG state]; nil without
	aux     bool  // the aux program (see model.hasAux)
	normal  func(states *Node, dims ...int) (draws, next *Node)
}

// stepOut is a model's training step: total [K] and metric columns [K] (metrics[0] is
// left for the total with the penalties), the activations regularizers read (per
// layer; nil when the kind takes none), the state after the step (before the active
// mask applies) and the generator states after its draws.
type stepOut struct {
	total   *Node
	metrics []*Node
	acts    []*Node
	state   []*Node
	rng     *Node
}

// namedTerm is a per-sample validation term.
type namedTerm struct {
	name string
	x    *Node
}

// valSums are one validation pass's sums, on the host, as a model's validation reads
// them: sums by name [K], and the observed layers' statistics of one model.
type valSums struct {
	n     float64 // validation samples
	sum   func(name string) []float64
	layer func(name string) *layerStats
}

// checkpointVariables are every variable a checkpoint of the group must hold to
// resume training bit for bit: the parameters (a jumprelu's thresholds among them),
// the optimizer's state, the model's state, the step count (the schedule's and
// warm-ups' position) and the generators of input noise and of
// the model's own draws. (The data order is drawn from each seed per epoch, and the
// hyperparameters come from the specs.)
func (gr *group) checkpointVariables() []*gmodel.Variable {
	out := slices.Concat(gr.params.All(), gr.opt.State(), gr.model.state(), []*gmodel.Variable{gr.steps})
	if gr.rng != nil {
		out = append(out, gr.rng)
	}
	return out
}
