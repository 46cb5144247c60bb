package spec

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// Defaults for keys a spec may omit.
const (
	DefaultValidationFraction = 0.2
	DefaultAdamLearningRate   = 0.001
	DefaultSGDLearningRate    = 0.01
	DefaultAdamBeta1          = 0.9
	DefaultAdamBeta2          = 0.999
	DefaultAdamEpsilon        = 1e-7 // Keras' value
	DefaultActivationSamples  = 256
	// DefaultActivationsEvery: probe activations are the bulk of a sweep's bytes (256
	// vectors per epoch); every 5th epoch and the last keep the curve's shape at a fifth
	// of the size.
	DefaultActivationsEvery = 5
	// DefaultCheckpointsEvery: a checkpoint every epoch costs at most a few per cent of
	// training on the quickstart and the seed-004 model (docs/reliability.md).
	DefaultCheckpointsEvery = 1
	// DefaultCheckpointsSteps: no checkpoints inside an epoch (record.checkpoints.steps;
	// a streamed set only).
	DefaultCheckpointsSteps = 0
)

// defaultRule is one key's default: the field it fills, whether it applies to a spec
// (a default of adam's beta1 only with optimizer.name: adam) and its value, which may
// depend on other keys (never on its own). The rules are applied in order, so a rule
// may read a key an earlier rule filled (model.kind before model.kl_weight).
type defaultRule struct {
	key     string
	field   func(s *Spec) any // a pointer to the field
	applies func(s *Spec) bool
	value   func(s *Spec) any
}

func always(*Spec) bool { return true }

func constant[T any](v T) func(*Spec) any { return func(*Spec) any { return v } }

func sae(activations ...string) func(s *Spec) bool {
	return func(s *Spec) bool {
		return s.Model.Kind == "sae" && (len(activations) == 0 || slices.Contains(activations, s.Model.SAE.Activation))
	}
}

func adam(s *Spec) bool { return s.Optimizer.Name == "adam" }

// defaultRules are every default of the schema but regularizers.N.convention and the
// sweep's (which ApplyDefaults fills per list entry and per parameter).
var defaultRules = []defaultRule{
	{"dataset.validation", func(s *Spec) any { return &s.Dataset.Validation }, always, constant("split")},
	{"dataset.validation_fraction", func(s *Spec) any { return &s.Dataset.ValidationFraction },
		func(s *Spec) bool { return s.Dataset.Validation == "split" }, constant(DefaultValidationFraction)},
	{"model.kind", func(s *Spec) any { return &s.Model.Kind }, always, constant("autoencoder")},
	{"model.kl_weight", func(s *Spec) any { return &s.Model.KLWeight }, func(s *Spec) bool { return s.Model.Kind == "vae" }, constant(1.0)},
	{"model.sae.bandwidth", func(s *Spec) any { return &s.Model.SAE.Bandwidth }, sae("jumprelu"), constant(DefaultSAEBandwidth)},
	{"model.sae.initial_threshold", func(s *Spec) any { return &s.Model.SAE.InitialThreshold }, sae("jumprelu"), constant(DefaultSAEInitialThreshold)},
	{"model.sae.threshold_momentum", func(s *Spec) any { return &s.Model.SAE.ThresholdMomentum }, sae("batchtopk", "matryoshka_batchtopk"), constant(DefaultSAEThresholdMomentum)},
	{"model.sae.aux_coefficient", func(s *Spec) any { return &s.Model.SAE.AuxCoefficient }, sae(selecting...), constant(DefaultSAEAuxCoefficient)},
	// aux_k omitted is half the input size (at most latents); the spec knows that size
	// only for synthetic data, where writing it out must keep the run id.
	{"model.sae.aux_k", func(s *Spec) any { return &s.Model.SAE.AuxK }, func(s *Spec) bool {
		return sae(selecting...)(s) && s.Dataset.Name == "synthetic" && s.Dataset.Synthetic.Dim >= 1 && s.Model.SAE.Latents >= 1
	}, func(s *Spec) any { return min(max(s.Dataset.Synthetic.Dim/2, 1), s.Model.SAE.Latents) }}, // SAE.AuxKFor of an omitted aux_k
	{"model.sae.dead_after", func(s *Spec) any { return &s.Model.SAE.DeadAfter }, sae(), constant(int64(DefaultSAEDeadAfter))},
	{"model.sae.b_dec_init", func(s *Spec) any { return &s.Model.SAE.BDecInit }, sae(), constant("geometric_median")},
	{"model.sae.normalize", func(s *Spec) any { return &s.Model.SAE.Normalize }, sae(), constant("none")},
	{"optimizer.learning_rate", func(s *Spec) any { return &s.Optimizer.LearningRate }, always, func(s *Spec) any {
		return map[string]float64{"adam": DefaultAdamLearningRate, "sgd": DefaultSGDLearningRate}[s.Optimizer.Name]
	}},
	{"optimizer.schedule.decay", func(s *Spec) any { return &s.Optimizer.Schedule.Decay }, always, constant("constant")},
	{"optimizer.beta1", func(s *Spec) any { return &s.Optimizer.Beta1 }, adam, constant(DefaultAdamBeta1)},
	{"optimizer.beta2", func(s *Spec) any { return &s.Optimizer.Beta2 }, adam, constant(DefaultAdamBeta2)},
	{"optimizer.epsilon", func(s *Spec) any { return &s.Optimizer.Epsilon }, adam, constant(DefaultAdamEpsilon)},
	{"record.activations.layers", func(s *Spec) any { return &s.Record.Activations.Layers }, always, func(s *Spec) any { return s.defaultRecordedLayers() }},
	{"record.activations.samples", func(s *Spec) any { return &s.Record.Activations.Samples }, always, constant(SampleCount(DefaultActivationSamples))},
	{"record.units.layers", func(s *Spec) any { return &s.Record.Units.Layers }, always, func(s *Spec) any { return s.defaultRecordedLayers() }},
	{"record.activations.every", func(s *Spec) any { return &s.Record.Activations.Every }, always, constant(DefaultActivationsEvery)},
	{"record.units.every", func(s *Spec) any { return &s.Record.Units.Every }, always, constant(1)},
	{"record.reconstructions.every", func(s *Spec) any { return &s.Record.Reconstructions.Every }, always, constant(1)},
	{"record.generated.every", func(s *Spec) any { return &s.Record.Generated.Every }, always, constant(1)},
	// The trained model is kept: its final weights (the last epoch) unless the spec
	// asks for more (every N) or none (every: 0).
	{"record.weights.every", func(s *Spec) any { return &s.Record.Weights.Every }, always, func(s *Spec) any { return max(s.Train.Epochs, 1) }},
	{"record.checkpoints.every", func(s *Spec) any { return &s.Record.Checkpoints.Every }, always, constant(DefaultCheckpointsEvery)},
	{"record.checkpoints.steps", func(s *Spec) any { return &s.Record.Checkpoints.Steps }, always, constant(DefaultCheckpointsSteps)},
}

// ApplyDefaults fills every omitted key with its documented default, and only omitted
// keys: given reports whether the file gave a key (dotted path, e.g.
// "optimizer.beta1"), and a key it gave keeps its value, zero included, for validate to
// accept as written or refuse. A nil given counts every key as given (nothing is
// filled). Run identity (Canonical) relies on this being the one place defaults live.
func ApplyDefaults(s *Spec, given func(key string) bool) {
	omitted := func(key string) bool { return given != nil && !given(key) }
	for _, r := range defaultRules {
		if r.applies(s) && omitted(r.key) {
			set(r.field(s), r.value(s))
		}
	}
	for i := range s.Regularizers {
		if reg := &s.Regularizers[i]; reg.Kind == "kl_sparsity" && omitted("regularizers."+strconv.Itoa(i)+".convention") {
			reg.Convention = "textbook"
		}
	}
	if s.Sweep != nil {
		if omitted("sweep.method") {
			s.Sweep.Method = "grid"
		}
		for path, p := range s.Sweep.Parameters {
			if p.Min != nil && p.Max != nil && omitted("sweep.parameters."+path+".distribution") {
				p.Distribution = "uniform"
				s.Sweep.Parameters[path] = p
			}
		}
	}
}

// atDefault lists, for each key with a default that applies to s (by its field's
// address), whether s holds that default: what ApplyDefaults would give the key if s
// omitted it and gave every other key as it is (a rule never reads its own key). Every
// other key's default is its zero value.
func atDefault(s *Spec) defaultSet {
	out := make(defaultSet, 0, len(defaultRules)+len(s.Regularizers))
	for _, r := range defaultRules {
		if r.applies(s) {
			p := r.field(s)
			out = append(out, defaultAt{reflect.ValueOf(p).Pointer(), equal(p, r.value(s))})
		}
	}
	for i := range s.Regularizers {
		if reg := &s.Regularizers[i]; reg.Kind == "kl_sparsity" {
			out = append(out, defaultAt{reflect.ValueOf(&reg.Convention).Pointer(), reg.Convention == "textbook"})
		}
	}
	return out
}

// set stores v (of the field's type) in the field p points to.
func set(p, v any) {
	switch p := p.(type) {
	case *string:
		*p = v.(string)
	case *float64:
		*p = v.(float64)
	case *int:
		*p = v.(int)
	case *int64:
		*p = v.(int64)
	case *SampleCount:
		*p = v.(SampleCount)
	case *[]string:
		*p = v.([]string)
	default:
		panic(fmt.Sprintf("spec: no default setter for %T", p))
	}
}

// equal reports whether the field p points to holds v (every empty list equal).
func equal(p, v any) bool {
	switch p := p.(type) {
	case *string:
		return *p == v.(string)
	case *float64:
		return *p == v.(float64)
	case *int:
		return *p == v.(int)
	case *int64:
		return *p == v.(int64)
	case *SampleCount:
		return *p == v.(SampleCount)
	case *[]string:
		return slices.Equal(*p, v.([]string))
	}
	panic(fmt.Sprintf("spec: no default comparison for %T", p))
}

// defaultSet is atDefault's answer: a handful of fields, by address.
type defaultSet []defaultAt

type defaultAt struct {
	addr uintptr
	def  bool
}

// nonDefaultWithin reports whether a key whose default applies lies in the size bytes
// from addr and is not at its default.
func (d defaultSet) nonDefaultWithin(addr, size uintptr) bool {
	for _, e := range d {
		if !e.def && e.addr >= addr && e.addr < addr+size {
			return true
		}
	}
	return false
}

func (d defaultSet) lookup(addr uintptr) (def, ok bool) {
	for _, e := range d {
		if e.addr == addr {
			return e.def, true
		}
	}
	return false, false
}
