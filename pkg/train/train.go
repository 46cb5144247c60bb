// Package train is the training loop: it trains a group of K models that share an
// architecture (one run, or several points of a sweep) in one compiled GoMLX program,
// evaluates them on the validation set after every epoch and hands each model's
// metrics, per-unit statistics and probe activations to an Observer.
//
// What may differ between the models of a group is carried as tensors, not constants
// (learning rate, input noise, regularizer weights and targets, seed), so one
// compilation serves them all. Each model keeps its own initialisation, data order,
// noise stream and optimizer state: it trains as it would alone. A model whose loss
// becomes NaN or Inf is frozen and reported diverged; the others go on.
package train

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/optim"
	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// Member is one model of a group.
type Member struct {
	RunID string
	Spec  *spec.Spec
}

// Data is what the models train and validate on.
type Data struct {
	Train, Validation *data.Set
}

// Observer receives the results as training goes.
type Observer interface {
	// Progress is called after every training batch.
	Progress(epoch, batch, batches int)
	// Epoch is called once per live model per epoch, in model order. An error stops
	// training (the models are reported failed with that error).
	Epoch(k int, e *Epoch) error
}

// GroupKey is equal for two resolved specs exactly when they can train in one group:
// everything but the values carried as tensors must match.
func GroupKey(s *spec.Spec) string {
	c := *s
	c.Name, c.Description = "", ""
	c.Optimizer.LearningRate = 0
	c.Train.Seed = 0
	c.Train.InputNoise = 0
	c.Regularizers = slices.Clone(s.Regularizers)
	for i := range c.Regularizers {
		c.Regularizers[i].Weight, c.Regularizers[i].Target = 0, 0
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// MaxGroupSize is how many models of spec s fit in one group: as many as keep the
// parameters, their gradients and optimizer state and one batch's activations within
// a 128 MiB budget, at most 16 (beyond that a CPU gains little from wider batches).
//
// The budget is small on purpose. XLA's CPU runtime allocates a step's scratch area
// (about half this estimate) afresh on every step; glibc reuses blocks up to 64 MiB
// for the threads that run steps, and maps anything larger anew each time, page
// faults included. Measured on the seed-004 model (bench/README.md): 16 models in one
// group took 12.6-13.9 s for an epoch each, against 8.9 s as two groups of 8.
func MaxGroupSize(s *spec.Spec, inputDim int) int {
	const budget, most = 128 << 20, 16
	params, units := 0, 0
	in := inputDim
	for _, l := range append(slices.Clone(s.Model.Encoder), s.Model.Decoder...) {
		out := l.Units
		if out == 0 {
			out = inputDim
		}
		params += in*out + out
		units += out
		in = out
	}
	perModel := 4 * (4*params + 4*s.Train.BatchSize*(units+inputDim))
	return max(1, min(most, budget/perModel))
}

// hyperparameter columns of the per-model tensor hp [K, P].
const (
	hpLearningRate = iota
	hpNoise
	hpRegularizers // then weight, target for each regularizer
)

func hyperparameters(members []Member) []float32 {
	P := hpRegularizers + 2*len(members[0].Spec.Regularizers)
	hp := make([]float32, 0, len(members)*P)
	for _, m := range members {
		s := m.Spec
		hp = append(hp, float32(s.Optimizer.LearningRate), float32(s.Train.InputNoise))
		for _, r := range s.Regularizers {
			hp = append(hp, float32(r.Weight), float32(r.Target))
		}
	}
	return hp
}

// group is the compiled state of K models.
type group struct {
	members  []Member
	spec     *spec.Spec // members[0]'s: the shared structure
	arch     autoencoder.Arch
	params   *autoencoder.Params
	opt      optim.Optimizer
	rng      *gmodel.Variable // [K, RNG state] for input noise and VAE sampling; nil without either
	vae      bool
	observed []int   // layer indices whose activations eval returns
	wdLayers [][]int // per regularizer: kernels it decays (weight_decay only)
	store    *gmodel.Store
	step     *gmodel.Exec
	eval     *gmodel.Exec
	// reconstruct maps validation rows to reconstructions; decode maps a VAE's codes to images.
	reconstruct, decode *gmodel.Exec
}

func column(hp *Node, c int) *Node {
	K := hp.Shape().Dimensions[0]
	return Reshape(Slice(hp, AxisRange(), AxisElem(c)), K)
}

func newGroup(backend compute.Backend, members []Member, inputDim int) (*group, error) {
	s := members[0].Spec
	key := GroupKey(s)
	for _, m := range members[1:] {
		if GroupKey(m.Spec) != key {
			return nil, fmt.Errorf("run %s cannot share a group with run %s: their structure differs", m.RunID, members[0].RunID)
		}
	}
	gr := &group{members: members, spec: s, arch: autoencoder.NewArch(s.Model, inputDim), vae: s.Model.Kind == "vae"}
	store := gmodel.NewStore()
	gr.store = store
	seeds := make([]int64, len(members))
	for k, m := range members {
		seeds[k] = m.Spec.Train.Seed
	}
	gr.params = autoencoder.NewParams(store, gr.arch, seeds)
	var err error
	if gr.opt, err = optim.New(store, s.Optimizer, gr.params.All()); err != nil {
		return nil, err
	}
	if gr.vae || gr.hasNoise() {
		gr.rng = store.RootScope().In("noise").VariableWithValue("rng", rngStates(seeds)).SetTrainable(false)
	}
	// Layers eval must return: recorded ones and activity-regularized ones.
	want := map[string]bool{}
	for _, l := range append(slices.Clone(s.Record.Units.Layers), s.Record.Activations.Layers...) {
		want[l] = true
	}
	for _, r := range s.Regularizers {
		if r.Layer != "" {
			want[r.Layer] = true
		}
		var layers []int
		if r.Kind == "weight_decay" {
			for i, l := range gr.arch.Layers {
				if len(r.Layers) == 0 || slices.Contains(r.Layers, l.Name) {
					layers = append(layers, i)
				}
			}
		}
		gr.wdLayers = append(gr.wdLayers, layers)
	}
	for i, l := range gr.arch.Layers {
		if want[l.Name] {
			gr.observed = append(gr.observed, i)
		}
	}
	if gr.step, err = gmodel.NewExec(backend, store, gr.stepGraph); err != nil {
		return nil, err
	}
	if gr.eval, err = gmodel.NewExec(backend, store, gr.evalGraph); err != nil {
		return nil, err
	}
	if gr.reconstruct, err = gmodel.NewExec(backend, store, gr.reconstructGraph); err != nil {
		return nil, err
	}
	if gr.vae {
		if gr.decode, err = gmodel.NewExec(backend, store, gr.decodeGraph); err != nil {
			return nil, err
		}
	}
	return gr, nil
}

// free releases the compiled programs and the variables' backend buffers now rather
// than at some later garbage collection (they live outside the Go heap).
func (gr *group) free() {
	for _, e := range []*gmodel.Exec{gr.step, gr.eval, gr.reconstruct, gr.decode} {
		if e != nil {
			e.Finalize()
		}
	}
	gr.store.Finalize()
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

// penalties returns each regularizer's penalty [K] for activations acts.
func (gr *group) penalties(g *Graph, acts []*Node, hp *Node) []*Node {
	var out []*Node
	for i, r := range gr.spec.Regularizers {
		weight := column(hp, hpRegularizers+2*i)
		switch r.Kind {
		case "l1_activity":
			out = append(out, sparsity.L1Activity(acts[gr.arch.Index(r.Layer)], weight))
		case "kl_sparsity":
			out = append(out, sparsity.KLSparsity(acts[gr.arch.Index(r.Layer)], column(hp, hpRegularizers+2*i+1), weight))
		case "weight_decay":
			out = append(out, gr.weightDecay(g, i, weight))
		}
	}
	return out
}

func (gr *group) weightDecay(g *Graph, i int, lambda *Node) *Node {
	var kernels []*Node
	for _, li := range gr.wdLayers[i] {
		kernels = append(kernels, gr.params.Kernels[li].NodeValue(g))
	}
	return sparsity.WeightDecay(kernels, lambda)
}

// stepGraph: one optimisation step of every model. x [N, D] is the training set,
// idx [K, B] each model's batch, hp [K, P], active [K]. Returns [K, M]: total loss,
// reconstruction, (a VAE's KL term,) each penalty, all before the update.
func (gr *group) stepGraph(_ *gmodel.Scope, x, idx, hp, active *Node) []*Node {
	g := x.Graph()
	batch := Gather(x, ExpandAxes(idx, -1)) // [K, B, D]
	input := batch
	if gr.hasNoise() {
		input = Add(batch, Mul(gr.normal(g, batch.Shape()), Reshape(column(hp, hpNoise), -1, 1, 1)))
	}
	var eps *Node
	if gr.vae {
		dims := batch.Shape().Dimensions
		eps = gr.normal(g, shapes.Make(dtypes.Float32, dims[0], dims[1], gr.spec.Model.Latent))
	}
	out := autoencoder.Forward(gr.params, gr.arch, input, eps)
	rec := ReduceMean(sparsity.Reconstruction(gr.spec.Loss, out.Recon, batch), -1) // [K]
	outs := []*Node{nil, rec}
	total := rec
	if gr.vae {
		kl := MulScalar(ReduceMean(sparsity.GaussianKL(out.Acts[gr.arch.Latent], out.LogVar), -1), gr.spec.Model.KLWeight)
		total = Add(total, kl)
		outs = append(outs, kl)
	}
	for _, p := range gr.penalties(g, out.Acts, hp) {
		total = Add(total, p)
		outs = append(outs, p)
	}
	outs[0] = total
	vars := gr.params.All()
	nodes := make([]*Node, len(vars))
	for i, v := range vars {
		nodes[i] = v.NodeValue(g)
	}
	grads := Gradient(ReduceAllSum(total), nodes...)
	gr.opt.Step(g, grads, column(hp, hpLearningRate), active)
	backend.MarkDonors(g, gr.store) // XLA may update the variables in place
	return []*Node{Stack(outs, 1)}
}

func (gr *group) hasNoise() bool {
	for _, m := range gr.members {
		if m.Spec.Train.InputNoise > 0 {
			return true
		}
	}
	return false
}

// normal draws standard normal values of shape [K, ...] for each model from its own
// generator state, and advances the states.
func (gr *group) normal(g *Graph, shape shapes.Shape) *Node {
	K := shape.Dimensions[0]
	states := gr.rng.NodeValue(g)
	one := shapes.Make(dtypes.Float32, shape.Dimensions[1:]...)
	var draws, next []*Node
	for k := 0; k < K; k++ {
		st := Reshape(Slice(states, AxisElem(k), AxisRange()), RNGStateShape.Dimensions...)
		newSt, v := RandomNormal(st, one)
		draws = append(draws, v)
		next = append(next, ExpandAxes(newSt, 0))
	}
	gr.rng.SetNodeValue(Concatenate(next, 0))
	return Stack(draws, 0)
}

// evalGraph evaluates every model on the validation rows idx [B] of x (a VAE decodes
// its mean code). Returns, in this order: the per-sample reconstruction loss [K, B];
// a VAE's per-sample KL [K, B]; with the mape metric, per-sample APE sums and counts
// [K, B]; each weight_decay penalty [K]; the observed layers' activations [K, B, U].
func (gr *group) evalGraph(_ *gmodel.Scope, x, idx, hp *Node) []*Node {
	g := x.Graph()
	batchK := gr.broadcast(Gather(x, ExpandAxes(idx, -1)))
	out := autoencoder.Forward(gr.params, gr.arch, batchK, nil)
	outs := []*Node{sparsity.Reconstruction(gr.spec.Loss, out.Recon, batchK)}
	if gr.vae {
		outs = append(outs, sparsity.GaussianKL(out.Acts[gr.arch.Latent], out.LogVar))
	}
	if gr.mape() {
		sum, count := sparsity.APE(out.Recon, batchK)
		outs = append(outs, sum, count)
	}
	for i, r := range gr.spec.Regularizers {
		if r.Kind == "weight_decay" {
			outs = append(outs, gr.weightDecay(g, i, column(hp, hpRegularizers+2*i)))
		}
	}
	for _, li := range gr.observed {
		outs = append(outs, out.Acts[li])
	}
	return outs
}

// broadcast gives every model the same batch: [B, D] -> [K, B, D].
func (gr *group) broadcast(batch *Node) *Node {
	dims := append([]int{len(gr.members)}, batch.Shape().Dimensions...)
	return BroadcastToDims(ExpandAxes(batch, 0), dims...)
}

func (gr *group) mape() bool { return slices.Contains(gr.spec.Metrics, "mape") }

// reconstructGraph reconstructs the rows x [n, D] with every model: [K, n, D].
func (gr *group) reconstructGraph(_ *gmodel.Scope, x *Node) *Node {
	return autoencoder.Forward(gr.params, gr.arch, gr.broadcast(x), nil).Recon
}

// decodeGraph decodes a VAE's codes z [K, n, latent]: [K, n, D].
func (gr *group) decodeGraph(_ *gmodel.Scope, z *Node) *Node {
	return autoencoder.Decode(gr.params, gr.arch, z)
}

// Train trains members together and reports to obs. It returns one Outcome per member.
// Cancelling ctx stops at the end of the current epoch (outcome "interrupted").
func Train(ctx context.Context, backend compute.Backend, members []Member, d Data, obs Observer) (outcomes []Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building or running the model failed: %v", r)
		}
	}()
	if len(members) == 0 {
		return nil, nil
	}
	gr, err := newGroup(backend, members, d.Train.Dim)
	if err != nil {
		return nil, err
	}
	defer gr.free()
	return gr.run(ctx, d, obs)
}
