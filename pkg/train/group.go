package train

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	sbackend "github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/optim"
	"github.com/sparselab/saerun/pkg/spec"
)

// group is the compiled state of K models and the data they train on.
type group struct {
	members []Member
	spec    *spec.Spec // members[0]'s: the shared structure
	data    Data
	arch    autoencoder.Arch
	params  *autoencoder.Params
	opt     optim.Optimizer
	rng     *gmodel.Variable // [K, RNG state] for input noise and a model's own draws; nil without either
	// steps is the number of optimizer steps the group has run (int32 scalar, over all
	// epochs): the n-th step's learning rate and coefficient warm-ups read n = steps+1.
	steps    *gmodel.Variable
	recipe   recipe    // the recipe parts the program computes (recipeOf the members)
	model    model     // the model kind's implementation (model.go)
	pens     []penalty // per regularizer (penalty.go)
	observed []int     // layer indices whose statistics validation computes
	store    *gmodel.Store
	backend  compute.Backend

	// The data on the backend: the sets (uploaded on first use, then kept there for the
	// whole training) and the hyperparameters hp [K, P].
	xTrain, xVal, hp *tensors.Tensor

	// The training program: steps optimizer steps per call (1 without compiled loops).
	trainExec *gmodel.Exec
	// trainExecAux is the model's aux training program (an SAE's AuxK), run only for
	// steps after which model.anyDead said so (the last call returns it: deadSeen; a
	// call of either program ends before a step that needs the other); trainExec leaves
	// AuxK out, whose loss and gradient are exactly 0 while no latent is dead. nil without.
	trainExecAux *gmodel.Exec
	deadSeen     bool
	// release: hand freed memory back to the system after each phase (a streamed run:
	// bounded memory, see stream.go); compiled: the training programs (by chunk rows
	// and aux) already called once, whose compilation's garbage was released.
	release  bool
	compiled map[[2]int]bool
	// hostCopies are the variables' tensors whose host copy saveState made.
	hostCopies    []*tensors.Tensor
	stepsPerCall  int
	batches, rows int // optimizer steps per epoch; samples in the last (maybe short) batch

	evalExec    *gmodel.Exec
	evalPerCall int      // validation batches per call of evalExec
	evalLayout  []string // names of evalExec's outputs (set when it is built)
	recordExec  *gmodel.Exec
	recLayout   []string
}

func newGroup(backend compute.Backend, members []Member, d Data, opts Options) (*group, error) {
	s := members[0].Spec
	key := GroupKey(s)
	for _, m := range members[1:] {
		if GroupKey(m.Spec) != key {
			return nil, fmt.Errorf("run %s cannot share a group with run %s: their structure differs", m.RunID, members[0].RunID)
		}
	}
	gr := &group{members: members, spec: s, data: d, arch: autoencoder.NewArch(s.Model, d.Train.Dim), backend: backend,
		release: d.Stream != nil, compiled: map[[2]int]bool{}}
	if gr.release {
		sbackend.BoundMemory()
	}
	store := gmodel.NewStore()
	gr.store = store
	seeds := seedsOf(members)
	var err error
	if gr.pens, err = penaltiesOf(s); err != nil {
		return nil, err
	}
	var xTrain, xVal []float32
	if gr.model, xTrain, xVal, err = newModel(gr, store, backend); err != nil {
		return nil, err
	}
	gr.params = autoencoder.NewParams(store, gr.arch, seeds)
	if gr.opt, err = optim.New(store, s.Optimizer, gr.params.All()); err != nil {
		return nil, err
	}
	if gr.model.usesRNG() || gr.hasNoise() {
		gr.rng = store.RootScope().In("noise").VariableWithValue("rng", rngStates(seeds)).SetTrainable(false)
	}
	gr.steps = store.RootScope().In("schedule").VariableWithValue("step", int32(0)).SetTrainable(false)
	gr.recipe = recipeOf(members)
	// Layers validation observes: the model's, recorded ones and activity-regularized ones.
	want := map[string]bool{}
	for _, l := range gr.model.observed() {
		want[l] = true
	}
	for _, l := range append(slices.Clone(s.Record.Units.Layers), s.Record.Activations.Layers...) {
		want[l] = true
	}
	for _, r := range s.Regularizers {
		if r.Layer != "" {
			want[r.Layer] = true
		}
	}
	for i, l := range gr.arch.Layers {
		if want[l.Name] {
			gr.observed = append(gr.observed, i)
		}
	}

	N, D := d.Train.N, d.Train.Dim
	bs := min(s.Train.BatchSize, N)
	gr.batches = (N + bs - 1) / bs
	gr.rows = N - (gr.batches-1)*bs
	gr.stepsPerCall, gr.evalPerCall = 1, 1
	if loopsHoldGradients(backend) {
		epochSteps := gr.batches // a streamed set's: its chunks', not the sample's (Train: the first chunk)
		if st := d.Stream; st != nil {
			epochSteps = streamSteps(st.Rows(), st.ChunkRows(), bs)
		}
		gr.stepsPerCall = callSteps(opts.StepsPerCall, gr.batches, epochSteps, gr.stepFLOPs(bs), backend)
		gr.evalPerCall = (d.Validation.N + evalBatch - 1) / evalBatch
	}
	// The sets live on the device only (shared with the host where the backend can):
	// no second copy in the Go heap. A streamed set's chunks come later (stream.go).
	if d.Stream == nil {
		gr.xTrain = tensors.FromFlatDataAndDimensions(xTrain, N, D)
		if err := gr.xTrain.ToDevice(backend, 0); err != nil {
			return nil, err
		}
	}
	gr.xVal = tensors.FromFlatDataAndDimensions(xVal, d.Validation.N, D)
	if err := gr.xVal.ToDevice(backend, 0); err != nil {
		return nil, err
	}
	gr.hp = gr.hyperparameters(members)

	if gr.trainExec, err = gmodel.NewExec(backend, store, gr.trainGraph(false)); err != nil {
		return nil, err
	}
	if gr.model.hasAux() {
		if gr.trainExecAux, err = gmodel.NewExec(backend, store, gr.trainGraph(true)); err != nil {
			return nil, err
		}
	}
	if gr.evalExec, err = gmodel.NewExec(backend, store, gr.evalGraph); err != nil {
		return nil, err
	}
	if gr.recordExec, err = gmodel.NewExec(backend, store, gr.recordGraph); err != nil {
		return nil, err
	}
	return gr, nil
}

// load makes the group train members, which must share the structure, size and
// data of the members it was built for (reuseKey): the compiled programs stay, the
// variables get the new members' initial values.
func (gr *group) load(members []Member) error {
	if len(members) != len(gr.members) {
		return fmt.Errorf("a group of %d cannot train %d runs", len(gr.members), len(members))
	}
	gr.members, gr.spec = members, members[0].Spec
	seeds := seedsOf(members)
	if err := gr.params.Reset(gr.arch, seeds); err != nil {
		return err
	}
	for _, v := range gr.opt.State() {
		if err := autoencoder.SetVariable(v, tensors.FromShape(v.Shape())); err != nil {
			return err
		}
	}
	if gr.rng != nil {
		if err := autoencoder.SetVariable(gr.rng, rngStates(seeds)); err != nil {
			return err
		}
	}
	if err := gr.model.reset(len(members)); err != nil {
		return err
	}
	if err := autoencoder.SetVariable(gr.steps, tensors.FromValue(int32(0))); err != nil {
		return err
	}
	gr.deadSeen = false
	gr.hp.FinalizeAll()
	gr.hp = gr.hyperparameters(members)
	return nil
}

// free releases the compiled programs, the data and the variables' backend buffers now
// rather than at some later garbage collection (they live outside the Go heap).
func (gr *group) free() {
	for _, e := range []*gmodel.Exec{gr.trainExec, gr.trainExecAux, gr.evalExec, gr.recordExec} {
		if e != nil {
			e.Finalize()
		}
	}
	for _, t := range []*tensors.Tensor{gr.xTrain, gr.xVal, gr.hp} {
		if t != nil {
			t.FinalizeAll()
		}
	}
	gr.store.Finalize()
}

// uploadVariables moves every variable's value that is only on the host (initial
// values, a checkpoint's) to the device, freeing the host copy: the first training
// call would upload them anyway, and keep the host copies alive while XLA compiles.
func (gr *group) uploadVariables() error {
	for v := range gr.store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return err
		}
		if t.IsShared() || t.IsOnAnyDevice() {
			continue
		}
		if err := t.MaterializeOnDevice(gr.backend, false, 0); err != nil {
			return err
		}
		t.FinalizeLocal()
	}
	return nil
}

// seedsOf lists the members' seeds, in model order.
func seedsOf(members []Member) []int64 {
	seeds := make([]int64, len(members))
	for k, m := range members {
		seeds[k] = m.Spec.Train.Seed
	}
	return seeds
}

// rngStates seeds each model's noise generator from its seed.
func rngStates(seeds []int64) *tensors.Tensor {
	var flat []uint64
	for _, seed := range seeds {
		t, err := RNGStateFromSeed(seed ^ 0x6e6f697365) // "noise"
		if err != nil {
			panic(err)
		}
		flat = append(flat, tensors.MustCopyFlatData[uint64](t)...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(seeds), RNGStateShape.Size())
}

func (gr *group) hasNoise() bool {
	for _, m := range gr.members {
		if m.Spec.Train.InputNoise > 0 {
			return true
		}
	}
	return false
}

// stepsDone reads how many optimizer steps the group has run.
func (gr *group) stepsDone() (int64, error) {
	t, err := gr.steps.Value()
	if err != nil {
		return 0, err
	}
	return int64(tensors.MustCopyFlatData[int32](t)[0]), nil
}

func (gr *group) mape() bool { return slices.Contains(gr.spec.Metrics, "mape") }

// broadcast gives every model the same batch: [B, D] -> [K, B, D].
func (gr *group) broadcast(batch *Node) *Node {
	dims := append([]int{len(gr.members)}, batch.Shape().Dimensions...)
	return BroadcastToDims(ExpandAxes(batch, 0), dims...)
}

// weights copies every model's trained parameters to the host, as the model exports
// them (a sparse autoencoder's in the data's own units, with its thresholds).
func (gr *group) weights() ([][]LayerWeights, error) {
	out, err := gr.layerWeights()
	if err != nil {
		return nil, err
	}
	return gr.model.export(out)
}

// layerWeights copies every layer's kernel and bias to the host, as stored.
func (gr *group) layerWeights() ([][]LayerWeights, error) {
	K := len(gr.members)
	out := make([][]LayerWeights, K)
	for li, l := range gr.arch.Layers {
		kt, err := gr.params.Kernels[li].Value()
		if err != nil {
			return nil, err
		}
		bt, err := gr.params.Biases[li].Value()
		if err != nil {
			return nil, err
		}
		n := l.In * l.Out
		kernels := make([][]float32, K)
		err = readHost(kt, func(kernel []float32) {
			for k := range kernels { // stored [K, out, in]; LayerWeights is in×out
				kernels[k] = autoencoder.TransposeHost(kernel[k*n:(k+1)*n], l.Out, l.In)
			}
		})
		if err != nil {
			return nil, err
		}
		var bias []float32
		if err := readHost(bt, func(b []float32) { bias = slices.Clone(b) }); err != nil {
			return nil, err
		}
		for k := 0; k < K; k++ {
			out[k] = append(out[k], LayerWeights{Name: l.Name, In: l.In, Out: l.Out, Kernel: kernels[k], Bias: bias[k*l.Out : (k+1)*l.Out]})
		}
	}
	return out, nil
}

// readHost calls fn with t's values on the host. A host copy it had to make for that
// (t was on the device only) is freed after: a variable's would otherwise stay beside
// the device's until the next training call replaces the variable.
func readHost(t *tensors.Tensor, fn func([]float32)) error {
	made := !t.IsLocal() && t.IsOnAnyDevice()
	if err := tensors.ConstFlatData(t, fn); err != nil {
		return err
	}
	if made {
		t.FinalizeLocal()
	}
	return nil
}

// named collects a program's outputs under names, so that the graph that computes
// them and the host code that reads them agree on each output's meaning without
// counting positions.
type named struct {
	names []string
	nodes []*Node
}

func (n *named) add(name string, x *Node) {
	n.names = append(n.names, name)
	n.nodes = append(n.nodes, x)
}

// byName pairs a program's outputs with the names its graph gave them.
func byName(layout []string, outs []*tensors.Tensor) map[string]*tensors.Tensor {
	m := make(map[string]*tensors.Tensor, len(outs))
	for i, t := range outs {
		m[layout[i]] = t
	}
	return m
}

// copyAndFree copies a result to Go memory and frees its backend buffer at once: XLA's
// buffers live outside the Go heap, so waiting for the garbage collector to free them
// lets memory grow with every step.
func copyAndFree[T float32 | float64 | int32 | bool](t *tensors.Tensor) []T {
	v := tensors.MustCopyFlatData[T](t)
	t.FinalizeAll()
	return v
}

func freeAll(ts ...*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			t.FinalizeAll()
		}
	}
}
