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
//
// The work stays on the device: on XLA one call runs a whole epoch of optimizer steps
// (or a chunk of it) in a compiled loop, with the data set, the batch indices and every
// model's running metric sums on the device; validation is one call per epoch that
// reduces the metrics and per-unit statistics there, and recording (probe activations,
// reconstructions) one more call on the epochs that record. Only those reductions come
// back to the host. The files follow that shape: step.go, eval.go and record.go build
// the compiled programs, loop.go is the host loop, result.go and stats.go hold what
// comes out.
//
// What differs between kinds of model lives in one implementation per kind, behind the
// model interface (model.go), registered by model.kind: model_autoencoder.go
// (autoencoder, vae) and sae.go (the sparse autoencoders, with one file per
// model.sae.activation: sae_relu.go, sae_topk.go, sae_batchtopk.go, sae_jumprelu.go,
// sae_matryoshka.go). Each regularizer kind is one file (penalty_*.go) behind the
// penalty interface (penalty.go). The programs and the loop see only the interfaces:
// a new kind, activation or regularizer is a new file that registers itself, and an
// unknown name is an error.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
)

// Member is one model of a group.
type Member struct {
	RunID string
	Spec  *spec.Spec
	// Resume, when set, is the checkpoint the run continues from: it trains from the
	// epoch after Resume.Epoch. The members of a group resume after the same epoch.
	Resume *checkpoint.State
}

// Data is what the models train and validate on (prepared by package data).
type Data = data.Splits

// Observer receives the results as training goes.
type Observer interface {
	// Progress is called after every call of the training program: step of steps
	// optimizer steps of the epoch are done.
	Progress(epoch, step, steps int)
	// Epoch is called once per live model per epoch, in model order. An error stops
	// training (the models are reported failed with that error).
	Epoch(k int, e *Epoch) error
}

// Options tune how the loop runs, not what it computes.
type Options struct {
	// StepsPerCall is how many optimizer steps one call of the compiled training
	// program runs on backends with compiled loops (XLA). 0 chooses: a whole epoch,
	// split in equal chunks of about two seconds' work on a CPU. The go backend always
	// runs one step per call (its loops cannot hold a gradient).
	StepsPerCall int
}

// GroupKey is equal for two resolved specs exactly when they can train in one group:
// everything but the values carried as tensors must match.
func GroupKey(s *spec.Spec) string {
	c := *s
	c.Name, c.Description = "", ""
	c.Optimizer.LearningRate = 0
	c.Optimizer.ClipGradNorm = 0
	c.Optimizer.Schedule.WarmupSteps, c.Optimizer.Schedule.DecaySteps, c.Optimizer.Schedule.FinalLearningRate = 0, 0, 0
	c.Model.SAE.L1WarmupSteps, c.Model.SAE.L0WarmupSteps = 0, 0
	c.Train.Seed = 0
	c.Train.InputNoise = 0
	c.Model.SAE.K, c.Model.SAE.L1Coefficient, c.Model.SAE.L0Coefficient = 0, 0, 0
	c.Model.SAE.Bandwidth, c.Model.SAE.ThresholdMomentum, c.Model.SAE.DeadAfter = 0, 0, 0
	if c.Model.SAE.AuxCoefficient > 0 { // a tensor too; only whether AuxK is on matters
		c.Model.SAE.AuxCoefficient = 1
	}
	c.Regularizers = slices.Clone(s.Regularizers)
	for i := range c.Regularizers {
		c.Regularizers[i].Weight, c.Regularizers[i].Target = 0, 0
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// Train trains members together and reports to obs. It returns one Outcome per member.
// Cancelling ctx stops at the end of the current epoch (outcome "interrupted"); a
// streamed set's run stops at the next chunk boundary, with a checkpoint there when
// checkpoints are on (record.checkpoints.every > 0).
func Train(ctx context.Context, backend compute.Backend, members []Member, d Data, obs Observer) ([]Outcome, error) {
	t := NewTrainer(backend, Options{})
	defer t.Close()
	return t.Train(ctx, members, d, obs)
}

// Trainer trains groups one after another on one backend and compiles each kind of
// group once: a group of the same structure, size and data as the previous one reuses
// its compiled programs, with the variables set to the new members' initial values.
// (A sweep's groups are mostly alike: compiling is most of a small group's time.)
type Trainer struct {
	backend compute.Backend
	opts    Options
	last    *group
	lastKey string
}

// NewTrainer returns a Trainer; Close releases what it keeps on the backend.
func NewTrainer(backend compute.Backend, opts Options) *Trainer {
	return &Trainer{backend: backend, opts: opts}
}

// Train trains members together, as the package's Train does.
func (t *Trainer) Train(ctx context.Context, members []Member, d Data, obs Observer) (outcomes []Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
		if err != nil {
			t.Close() // a failed group's state is not reused
		}
	}()
	if len(members) == 0 {
		return nil, nil
	}
	if d.Train == nil || d.Train.N == 0 || d.Validation == nil || d.Validation.N == 0 {
		return nil, fmt.Errorf("empty training or validation set")
	}
	key := reuseKey(members, d)
	if t.last != nil && key == t.lastKey {
		err = t.last.load(members)
	} else {
		t.Close()
		t.last, err = newGroup(t.backend, members, d, t.opts)
		t.lastKey = key
	}
	if err != nil {
		return nil, err
	}
	return t.last.run(ctx, obs)
}

// Close frees the compiled programs and data the Trainer keeps.
func (t *Trainer) Close() {
	if t.last != nil {
		t.last.free()
		t.last, t.lastKey = nil, ""
	}
}

// reuseKey is equal for two groups that compile to the same programs: the same
// structure (GroupKey), group size, presence of input noise and data sets.
func reuseKey(members []Member, d Data) string {
	noise := false
	for _, m := range members {
		noise = noise || m.Spec.Train.InputNoise > 0
	}
	return fmt.Sprintf("%s|%d|%v|%d|%+v|%p|%p", GroupKey(members[0].Spec), len(members), noise, largestK(members), recipeOf(members), d.Train, d.Validation)
}

// recipe says which parts of the training recipe a group's program computes: only
// those some member uses, so that a group without them runs the program it ran
// before they existed (the same numbers, bit for bit).
type recipe struct {
	schedule bool // some member's learning rate varies (a warm-up or a decay)
	clip     bool // some member clips its gradient norm
	warmup   bool // some member ramps up its SAE penalty coefficient
}

func recipeOf(members []Member) recipe {
	var r recipe
	for _, m := range members {
		o, a := m.Spec.Optimizer, m.Spec.Model.SAE
		r.schedule = r.schedule || o.Schedule.WarmupSteps > 0 || (o.Schedule.Decay != "" && o.Schedule.Decay != "constant")
		r.clip = r.clip || o.ClipGradNorm > 0
		r.warmup = r.warmup || (m.Spec.Model.Kind == "sae" && (a.L1WarmupSteps > 0 || a.L0WarmupSteps > 0))
	}
	return r
}

// panicError turns a panic during graph building or execution into an error. GoMLX
// reports misuse while a graph is built by panicking with an error; its message says
// what is wrong. Anything else (a runtime error, a panic of our own) is a bug: its
// stack goes into the message so that it can be found.
func panicError(r any) error {
	var rt runtime.Error
	if e, ok := r.(error); ok && !errors.As(e, &rt) {
		return fmt.Errorf("building or running the model failed: %w", e)
	}
	return fmt.Errorf("building or running the model failed: %v\n%s", r, debug.Stack())
}

// hyper reads the per-model hyperparameters hp [K, P] carried as a tensor: models
// that differ only in these share a compiled program.
type hyper struct{ hp *Node }

// hyperparameter columns of hp.
const (
	hpLearningRate = iota
	hpNoise
	hpWarmupSteps       // optimizer.schedule.warmup_steps
	hpDecaySteps        // optimizer.schedule.decay_steps
	hpFinalLearningRate // optimizer.schedule.final_learning_rate
	hpClipGradNorm      // optimizer.clip_grad_norm (0: none)
	hpRegularizers      // then weight, target for each regularizer
)

func (h hyper) column(c int) *Node {
	K := h.hp.Shape().Dimensions[0]
	return Reshape(Slice(h.hp, AxisRange(), AxisElem(c)), K)
}

func (h hyper) learningRate() *Node  { return h.column(hpLearningRate) }
func (h hyper) noise() *Node         { return h.column(hpNoise) }
func (h hyper) clipGradNorm() *Node  { return h.column(hpClipGradNorm) }
func (h hyper) weight(reg int) *Node { return h.column(hpRegularizers + 2*reg) }
func (h hyper) target(reg int) *Node { return h.column(hpRegularizers + 2*reg + 1) }

// hyperparameters lays out the members' hyperparameters as hp's rows: the learning
// rate, input noise, the schedule's and clipping's numbers, each regularizer's weight
// and target, then the model's columns.
func (gr *group) hyperparameters(members []Member) *tensors.Tensor {
	var hp []float32
	P := 0
	for _, m := range members {
		s := m.Spec
		sc := s.Optimizer.Schedule
		row := []float32{float32(s.Optimizer.LearningRate), float32(s.Train.InputNoise),
			float32(sc.WarmupSteps), float32(sc.DecaySteps), float32(sc.FinalLearningRate), float32(s.Optimizer.ClipGradNorm)}
		for _, r := range s.Regularizers {
			row = append(row, float32(r.Weight), float32(r.Target))
		}
		row = append(row, gr.model.hyper(s)...)
		P = len(row)
		hp = append(hp, row...)
	}
	return tensors.FromFlatDataAndDimensions(hp, len(members), P)
}
