package spec

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// defaultRecordedLayers: the layers with activity regularizers, else the code layer.
func (s *Spec) defaultRecordedLayers() []string {
	var layers []string
	for _, r := range s.Regularizers {
		if r.Layer != "" && !slices.Contains(layers, r.Layer) {
			layers = append(layers, r.Layer)
		}
	}
	if len(layers) == 0 && s.Model.Kind == "sae" {
		layers = []string{"encoder.0"}
	}
	if len(layers) == 0 && len(s.Model.Encoder) > 0 {
		layers = []string{"encoder." + strconv.Itoa(len(s.Model.Encoder)-1)}
	}
	return layers
}

// LatentLayer is the name of a VAE's code layer (its mean μ).
const LatentLayer = "latent"

// LayerNames lists the model's layer names in order: encoder.0, …, (latent,) decoder.N.
func (m *Model) LayerNames() []string {
	if m.Kind == "sae" {
		return []string{"encoder.0", "decoder.0"}
	}
	var names []string
	for i := range m.Encoder {
		names = append(names, "encoder."+strconv.Itoa(i))
	}
	if m.Kind == "vae" {
		names = append(names, LatentLayer)
	}
	for i := range m.Decoder {
		names = append(names, "decoder."+strconv.Itoa(i))
	}
	return names
}

// Layer returns the layer called name ("encoder.0"), or false.
func (m *Model) Layer(name string) (Layer, bool) {
	if name == LatentLayer && m.Kind == "vae" {
		return Layer{Units: m.Latent, Activation: "linear"}, true
	}
	if m.Kind == "sae" {
		switch name {
		case "encoder.0":
			return Layer{Units: m.SAE.Latents, Activation: m.SAE.Activation}, true
		case "decoder.0":
			return Layer{Activation: "linear"}, true
		}
		return Layer{}, false
	}
	part, index, _ := strings.Cut(name, ".")
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || strconv.Itoa(i) != index {
		return Layer{}, false
	}
	if part == "encoder" && i < len(m.Encoder) {
		return m.Encoder[i], true
	}
	if part == "decoder" && i < len(m.Decoder) {
		return m.Decoder[i], true
	}
	return Layer{}, false
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// validate checks ranges and cross-references of a defaulted spec.
func (src *Source) validate(s *Spec) Errors {
	var errs Errors
	bad := func(key, allowed, format string, args ...any) {
		errs = append(errs, src.errAt(key, allowed, format, args...))
	}
	enum := func(key, value string, allowed []string) {
		if !slices.Contains(allowed, value) {
			if value == "" {
				bad(key, oneOf(allowed), "missing")
			} else {
				bad(key, oneOf(allowed), "unknown value %q", value)
			}
		}
	}
	finite := func(key string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad(key, "a finite number", "got %v", v)
			return false
		}
		return true
	}

	if nameRules := "letters, digits, '.', '_', '-'; up to 100 characters, starting with a letter or digit"; s.Name == "" {
		bad("name", nameRules, "missing (it names the results folder)")
	} else if !nameRE.MatchString(s.Name) {
		bad("name", nameRules, "invalid name %q", s.Name)
	}

	d := s.Dataset
	enum("dataset.name", d.Name, DatasetNames)
	enum("dataset.validation", d.Validation, ValidationSources)
	if d.Validation == "split" && finite("dataset.validation_fraction", d.ValidationFraction) &&
		(d.ValidationFraction < 0.01 || d.ValidationFraction > 0.9) {
		bad("dataset.validation_fraction", "0.01 to 0.9", "out of range: %v", d.ValidationFraction)
	}
	if d.Validation != "split" && src.Given("dataset.validation_fraction") {
		bad("dataset.validation_fraction", "only with validation: split", "not used with validation: %s", d.Validation)
	}
	if d.Validation == "test" && slices.Contains([]string{"digits", "parquet", "npy", "synthetic"}, d.Name) {
		bad("dataset.validation", fmt.Sprintf("split (%s has no test set)", d.Name), "%s has no separate test set", d.Name)
	}
	src.validateVectorDataset(d, bad)
	validateStream(d, bad)
	if d.Name == "synthetic" && (s.Loss == "bce" || s.Loss == "bce_sum") {
		bad("loss", "mse or mse_sum (synthetic vectors are not in [0, 1])", "%s needs targets in [0, 1]", s.Loss)
	}
	if d.MaxTrainSamples < 0 {
		bad("dataset.max_train_samples", "0 (all) or a positive count", "negative: %d", d.MaxTrainSamples)
	}
	if d.MaxValidationSamples < 0 || (d.MaxValidationSamples > 0 && d.MaxValidationSamples < MinValidationRows) {
		bad("dataset.max_validation_samples", fmt.Sprintf("0 (all) or at least %d (the validation explained variance compares rows with their mean)", MinValidationRows),
			"invalid: %d", d.MaxValidationSamples)
	}

	m := s.Model
	enum("model.kind", m.Kind, ModelKinds)
	if m.Kind == "sae" {
		for _, part := range []string{"encoder", "decoder"} {
			if src.Given("model." + part) {
				bad("model."+part, "omitted with kind: sae (its layers are set by model.sae)", "not used by sae")
			}
		}
		errs = append(errs, src.validateSAE(s)...)
	} else {
		if len(m.Encoder) == 0 {
			bad("model.encoder", "a list of {units, activation}", "at least one encoder layer is needed")
		}
		if len(m.Decoder) == 0 {
			bad("model.decoder", "a list of {units, activation}", "at least one decoder layer is needed")
		}
		if src.Given("model.sae") {
			named := false
			for _, key := range infoOf(reflect.TypeFor[SAE]()).keys {
				if src.Given("model.sae." + key) {
					bad("model.sae."+key, "only with kind: sae", "not used by %s", m.Kind)
					named = true
				}
			}
			if !named {
				bad("model.sae", "only with kind: sae", "not used by %s", m.Kind)
			}
		}
	}
	for _, part := range []struct {
		name   string
		layers []Layer
	}{{"encoder", m.Encoder}, {"decoder", m.Decoder}} {
		for i, l := range part.layers {
			key := "model." + part.name + "." + strconv.Itoa(i)
			lastDecoder := part.name == "decoder" && i == len(part.layers)-1
			if l.Units < 0 || l.Units > 1<<16 || (l.Units == 0 && (!lastDecoder || src.Given(key+".units"))) {
				allowed := "1 to 65536"
				if lastDecoder {
					allowed += ", or omitted for the input size"
				}
				bad(key+".units", allowed, "invalid unit count %d", l.Units)
			}
			enum(key+".activation", l.Activation, Activations)
		}
	}

	if m.Kind == "vae" {
		if m.Latent < 1 || m.Latent > 1<<16 {
			bad("model.latent", "1 to 65536 (the VAE's code size)", "invalid: %d", m.Latent)
		}
		if finite("model.kl_weight", m.KLWeight) && m.KLWeight < 0 {
			bad("model.kl_weight", ">= 0", "negative: %v", m.KLWeight)
		}
	} else {
		if m.Latent != 0 || src.Given("model.latent") {
			bad("model.latent", "only with kind: vae", "not used by %s", m.Kind)
		}
		if m.KLWeight != 0 || src.Given("model.kl_weight") {
			bad("model.kl_weight", "only with kind: vae", "not used by %s", m.Kind)
		}
	}

	enum("loss", s.Loss, Losses)
	if len(m.Decoder) > 0 && (s.Loss == "bce" || s.Loss == "bce_sum") {
		if out := m.Decoder[len(m.Decoder)-1].Activation; out != "sigmoid" && out != "satlin" {
			bad(fmt.Sprintf("model.decoder.%d.activation", len(m.Decoder)-1), "sigmoid or satlin with a bce loss (outputs must lie in [0, 1])",
				"%s outputs can leave [0, 1]", out)
		}
	}
	for i, name := range s.Metrics {
		if !slices.Contains(ExtraMetrics, name) {
			bad(fmt.Sprintf("metrics.%d", i), oneOf(ExtraMetrics), "unknown metric %q", name)
		}
	}

	o := s.Optimizer
	enum("optimizer.name", o.Name, Optimizers)
	if (slices.Contains(Optimizers, o.Name) || src.Given("optimizer.learning_rate")) &&
		finite("optimizer.learning_rate", o.LearningRate) && (o.LearningRate <= 0 || o.LearningRate > 10) {
		bad("optimizer.learning_rate", "0 < learning_rate <= 10", "out of range: %v", o.LearningRate)
	}
	if o.Name == "sgd" {
		if finite("optimizer.momentum", o.Momentum) && (o.Momentum < 0 || o.Momentum >= 1) {
			bad("optimizer.momentum", "0 <= momentum < 1", "out of range: %v", o.Momentum)
		}
		for _, key := range []string{"beta1", "beta2", "epsilon"} {
			if src.Given("optimizer." + key) {
				bad("optimizer."+key, "only with name: adam", "not used by sgd")
			}
		}
	}
	if o.Name == "adam" {
		if o.Momentum != 0 || src.Given("optimizer.momentum") {
			bad("optimizer.momentum", "only with name: sgd (adam uses beta1)", "not used by adam")
		}
		// Kingma & Ba: β1, β2 ∈ [0, 1). β1 = 0 (no first-moment averaging) is the
		// JumpReLU SAE recipe's (betas (0, 0.999)).
		for _, b := range [...]struct {
			key string
			v   float64
		}{{"optimizer.beta1", o.Beta1}, {"optimizer.beta2", o.Beta2}} {
			if finite(b.key, b.v) && (b.v < 0 || b.v >= 1) {
				bad(b.key, "0 <= value < 1", "out of range: %v", b.v)
			}
		}
		if finite("optimizer.epsilon", o.Epsilon) && (o.Epsilon <= 0 || o.Epsilon > 1) {
			bad("optimizer.epsilon", "0 < epsilon <= 1", "out of range: %v", o.Epsilon)
		}
	}

	sc := o.Schedule
	if sc.WarmupSteps < 0 || sc.WarmupSteps > MaxScheduleSteps {
		bad("optimizer.schedule.warmup_steps", "0 to 16777216 optimizer steps (0: no warm-up)", "invalid: %d", sc.WarmupSteps)
	}
	enum("optimizer.schedule.decay", sc.Decay, Decays)
	if sc.Decay == "linear" || sc.Decay == "cosine" {
		if sc.DecaySteps < 1 || sc.DecaySteps > MaxScheduleSteps {
			bad("optimizer.schedule.decay_steps", "1 to 16777216 optimizer steps (the decay's length after the warm-up)", "invalid: %d", sc.DecaySteps)
		}
		if finite("optimizer.schedule.final_learning_rate", sc.FinalLearningRate) &&
			(sc.FinalLearningRate < 0 || sc.FinalLearningRate > o.LearningRate) {
			bad("optimizer.schedule.final_learning_rate", fmt.Sprintf("0 <= final_learning_rate <= learning_rate (%v)", o.LearningRate),
				"out of range: %v", sc.FinalLearningRate)
		}
	} else {
		for _, key := range []string{"decay_steps", "final_learning_rate"} {
			if src.Given("optimizer.schedule." + key) {
				bad("optimizer.schedule."+key, "only with decay: linear or cosine", "not used by decay: %s", sc.Decay)
			}
		}
	}
	if finite("optimizer.clip_grad_norm", o.ClipGradNorm) && o.ClipGradNorm < 0 {
		bad("optimizer.clip_grad_norm", "0 (no clipping) or a norm > 0", "out of range: %v", o.ClipGradNorm)
	}

	t := s.Train
	if t.Epochs < 1 || t.Epochs > 100000 {
		bad("train.epochs", "1 to 100000", "invalid: %d", t.Epochs)
	}
	if t.BatchSize < 1 || t.BatchSize > 1<<20 {
		bad("train.batch_size", "1 to 1048576", "invalid: %d", t.BatchSize)
	}
	if finite("train.input_noise", t.InputNoise) && t.InputNoise < 0 {
		bad("train.input_noise", "a standard deviation >= 0", "negative: %v", t.InputNoise)
	}

	layers := m.LayerNames()
	for i, r := range s.Regularizers {
		key := "regularizers." + strconv.Itoa(i)
		enum(key+".kind", r.Kind, RegularizerKinds)
		if finite(key+".weight", r.Weight) && r.Weight < 0 {
			bad(key+".weight", "weight >= 0", "negative: %v", r.Weight)
		}
		switch r.Kind {
		case "l1_activity", "kl_sparsity":
			if !slices.Contains(layers, r.Layer) {
				bad(key+".layer", oneOf(layers), "unknown layer %q", r.Layer)
			}
			if len(r.Layers) > 0 || src.Given(key+".layers") {
				bad(key+".layers", "only with kind: weight_decay (use layer)", "not used by %s", r.Kind)
			}
		case "weight_decay":
			if r.Layer != "" || src.Given(key+".layer") {
				bad(key+".layer", "only with l1_activity and kl_sparsity (use layers)", "not used by weight_decay")
			}
			for j, l := range r.Layers {
				if !slices.Contains(layers, l) {
					bad(fmt.Sprintf("%s.layers.%d", key, j), oneOf(layers), "unknown layer %q", l)
				}
			}
		}
		if r.Kind == "kl_sparsity" {
			enum(key+".convention", r.Convention, KLConventions)
			if finite(key+".target", r.Target) && (r.Target <= 0 || r.Target >= 1) {
				bad(key+".target", "0 < target < 1", "out of range: %v", r.Target)
			}
			if l, ok := m.Layer(r.Layer); ok && l.Activation != "sigmoid" && l.Activation != "satlin" {
				bad(key+".layer", "a sigmoid or satlin layer (KL needs activations in [0,1])",
					"layer %s has activation %s", r.Layer, l.Activation)
			}
		} else {
			if r.Target != 0 || src.Given(key+".target") {
				bad(key+".target", "only with kind: kl_sparsity", "not used by %s", r.Kind)
			}
			if r.Convention != "" || src.Given(key+".convention") {
				bad(key+".convention", "only with kind: kl_sparsity", "not used by %s", r.Kind)
			}
		}
	}

	rec := s.Record
	for _, part := range []struct {
		key    string
		layers []string
		every  int
	}{{"record.activations", rec.Activations.Layers, rec.Activations.Every}, {"record.units", rec.Units.Layers, rec.Units.Every}} {
		for j, l := range part.layers {
			if !slices.Contains(layers, l) {
				bad(fmt.Sprintf("%s.layers.%d", part.key, j), oneOf(layers), "unknown layer %q", l)
			}
		}
		if part.every < 1 {
			bad(part.key+".every", "a positive number of epochs", "invalid: %d", part.every)
		}
	}
	for key, sr := range map[string]SamplesRecord{"record.reconstructions": rec.Reconstructions, "record.generated": rec.Generated} {
		if sr.Samples < 0 || sr.Samples > 10000 {
			bad(key+".samples", "0 to 10000", "invalid: %d", sr.Samples)
		}
		if sr.Every < 1 {
			bad(key+".every", "a positive number of epochs", "invalid: %d", sr.Every)
		}
	}
	if rec.Generated.Samples > 0 && m.Kind != "vae" {
		bad("record.generated", "only with model.kind: vae", "an autoencoder has no prior to sample from")
	}
	if n := rec.Activations.Samples; n != AllSamples && (n < 0 || n > 100000) {
		bad("record.activations.samples", "0 to 100000, or all", "invalid: %d", n)
	}
	if rec.Weights.Every < 0 {
		bad("record.weights.every", "a number of epochs >= 1, or 0 to record no weights (default: the last epoch's)", "invalid: %d", rec.Weights.Every)
	}
	if rec.Checkpoints.Every < 0 {
		bad("record.checkpoints.every", "0 (no checkpoints) or a positive number of epochs", "invalid: %d", rec.Checkpoints.Every)
	}
	switch c := rec.Checkpoints; {
	case c.Steps < 0:
		bad("record.checkpoints.steps", "0 (checkpoints after epochs only) or a positive number of optimizer steps", "invalid: %d", c.Steps)
	case c.Steps > 0 && s.Dataset.Buffer == 0:
		bad("record.checkpoints.steps", "0 with a data set held in memory (checkpoints inside an epoch need a streamed set: dataset.buffer > 0)", "%d", c.Steps)
	case c.Steps > 0 && c.Every == 0:
		bad("record.checkpoints.steps", "0 with record.checkpoints.every: 0 (checkpoints off)", "%d", c.Steps)
	}
	if th := rec.ActiveThreshold; th != nil && finite("record.active_threshold", *th) && *th < 0 {
		bad("record.active_threshold", ">= 0", "negative: %v", *th)
	}

	if s.Sweep != nil {
		errs = append(errs, src.validateSweep(s.Sweep)...)
	}
	return errs
}

func (src *Source) validateSweep(sw *Sweep) Errors {
	var errs Errors
	bad := func(key, allowed, format string, args ...any) {
		errs = append(errs, src.errAt(key, allowed, format, args...))
	}
	if !slices.Contains(SweepMethods, sw.Method) {
		bad("sweep.method", oneOf(SweepMethods), "unknown value %q", sw.Method)
	}
	if sw.Method == "random" && (sw.Count < 1 || sw.Count > 100000) {
		bad("sweep.count", "1 to 100000 (random draws)", "invalid: %d", sw.Count)
	}
	if sw.Method == "grid" && (sw.Count != 0 || src.Given("sweep.count")) {
		bad("sweep.count", "only with method: random", "grid runs every combination")
	}
	if len(sw.Parameters) == 0 && len(sw.Seeds) == 0 {
		bad("sweep", "parameters and/or seeds", "empty sweep: nothing to vary")
	}
	seen := map[int64]bool{}
	for i, s := range sw.Seeds {
		if seen[s] {
			bad(fmt.Sprintf("sweep.seeds.%d", i), "distinct seeds", "duplicate seed %d", s)
		}
		seen[s] = true
	}
	for _, path := range sortedKeys(sw.Parameters) {
		p := sw.Parameters[path]
		key := "sweep.parameters." + path
		if !ValidPath(path) {
			bad(key, "a dotted path to a key of the spec, e.g. regularizers.0.weight", "%q names no key of the spec", path)
			continue
		}
		if path == "name" || strings.HasPrefix(path, "record") || path == "train.seed" {
			bad(key, "model, loss, optimizer, train (seeds: use sweep.seeds), dataset and regularizer keys", "cannot sweep %q", path)
		}
		hasRange := p.Min != nil || p.Max != nil
		switch {
		case len(p.Values) > 0 && hasRange:
			bad(key, "either values or min/max", "both values and min/max given")
		case len(p.Values) == 0 && !hasRange:
			bad(key, "values: [...] or min/max with distribution", "no values")
		case hasRange:
			if sw.Method != "random" {
				bad(key, "values: [...] (grid needs a list)", "min/max needs method: random")
			}
			if p.Min == nil || p.Max == nil {
				bad(key, "both min and max", "a range needs both ends")
				break
			}
			if !(*p.Min < *p.Max) {
				bad(key, "min < max", "empty range [%v, %v]", *p.Min, *p.Max)
			}
			if dist := p.Distribution; !slices.Contains(Distributions, dist) {
				bad(key+".distribution", oneOf(Distributions), "unknown value %q", p.Distribution)
			}
			if p.Distribution == "log_uniform" && *p.Min <= 0 {
				bad(key+".min", "min > 0 for log_uniform", "got %v", *p.Min)
			}
		}
		if len(p.Values) > 0 && (p.Distribution != "" || src.Given(key+".distribution")) {
			bad(key+".distribution", "only with min/max", "not used with values")
		}
	}
	return errs
}

// vectorKeysUsedBy lists the data sets that use each dataset key of the vector sets.
var vectorKeysUsedBy = map[string][]string{"path": {"parquet", "npy"}, "column": {"parquet"}, "where": {"parquet"}, "synthetic": {"synthetic"}}

var vectorDatasetKeys = map[string]string{"path": "dataset.path", "column": "dataset.column", "where": "dataset.where", "synthetic": "dataset.synthetic"}

// validateVectorDataset checks the keys of the vector sets (parquet, npy, synthetic):
// each is required where it is used and refused elsewhere.
func (src *Source) validateVectorDataset(d Dataset, bad func(key, allowed, format string, args ...any)) {
	given := func(key string) bool { return src.Given("dataset." + key) }
	for _, key := range [...]string{"path", "column", "where", "synthetic"} {
		set := src.Given(vectorDatasetKeys[key])
		switch key {
		case "path":
			set = set || d.Path != ""
		case "column":
			set = set || d.Column != ""
		case "where":
			set = set || len(d.Where) > 0
		case "synthetic":
			set = set || d.Synthetic != SyntheticData{}
		}
		if set && !slices.Contains(vectorKeysUsedBy[key], d.Name) {
			// Name the keys the file gives (dataset.synthetic.dim), else the section.
			var keys []string
			switch key {
			case "synthetic":
				for _, sub := range []string{"dim", "features", "samples", "active", "seed"} {
					if given("synthetic." + sub) {
						keys = append(keys, "dataset.synthetic."+sub)
					}
				}
			case "where":
				for _, k := range sortedKeys(d.Where) {
					keys = append(keys, "dataset.where."+k)
				}
			}
			if len(keys) == 0 {
				keys = []string{"dataset." + key}
			}
			for _, k := range keys {
				bad(k, "only with name: "+strings.Join(vectorKeysUsedBy[key], " or "), "not used by %s", d.Name)
			}
		}
	}
	switch d.Name {
	case "parquet", "npy":
		if d.Path == "" {
			what := "a .parquet file or a folder of them"
			if d.Name == "npy" {
				what = "a 2-D .npy file of float32 or float16"
			}
			bad("dataset.path", what+" (relative to the working directory, or absolute)", "missing")
		}
	}
	if d.Name == "parquet" {
		if given("column") && d.Column == "" {
			bad("dataset.column", "a column name (omit the key for the file's only list<float32> or list<float16> column)", "empty")
		}
		for _, k := range sortedKeys(d.Where) {
			switch v := d.Where[k].(type) {
			case string, bool, int, int64, uint64:
			case float64:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					bad("dataset.where."+k, "a string, integer, bool or finite number", "got %v", v)
				}
			default:
				bad("dataset.where."+k, "a string, integer, bool or number (equality with the column's value)", "got %v", v)
			}
		}
	}
	if d.Name == "synthetic" {
		sy := d.Synthetic
		switch {
		case sy.Dim < 1 || sy.Dim > MaxSyntheticDim:
			bad("dataset.synthetic.dim", fmt.Sprintf("1 to %d", MaxSyntheticDim), "invalid: %d", sy.Dim)
		case int64(sy.Features)*int64(sy.Dim) > MaxSyntheticValues || sy.Features > MaxSyntheticFeatures || sy.Features < 1:
			bad("dataset.synthetic.features", fmt.Sprintf("1 to %d, and features·dim at most 2^31", MaxSyntheticFeatures), "invalid: %d", sy.Features)
		case sy.Samples < 1 || int64(sy.Samples)*int64(sy.Dim) > MaxSyntheticValues:
			bad("dataset.synthetic.samples", "1 to 2^31/dim (samples·dim at most 2^31 values)", "invalid: %d", sy.Samples)
		case sy.Active < 1 || sy.Active > sy.Features:
			bad("dataset.synthetic.active", fmt.Sprintf("1 to features (%d)", sy.Features), "invalid: %d", sy.Active)
		}
	}
}

// MaxBuffer is the largest dataset.buffer, in MiB.
const MaxBuffer = 1 << 20

// validateStream checks the keys of a streamed data set (dataset.buffer) and of a
// validation file (dataset.validation_path).
func validateStream(d Dataset, bad func(key, allowed, format string, args ...any)) {
	streams := d.Name == "npy" || d.Name == "parquet"
	if d.Buffer < 0 || d.Buffer > MaxBuffer {
		bad("dataset.buffer", fmt.Sprintf("0 (load the data set whole) or 1 to %d MiB", MaxBuffer), "out of range: %d", d.Buffer)
	}
	if d.Buffer > 0 && !streams {
		bad("dataset.buffer", "only with name: npy or parquet (a folder of .npy or .parquet shards)", "not used by %s", d.Name)
	}
	if d.Buffer > 0 && streams && d.Validation != "path" {
		bad("dataset.validation", "path (with dataset.buffer: a held-out .npy or .parquet file in dataset.validation_path)", "validation: %s with a streamed data set", d.Validation)
	}
	if d.Buffer > 0 && d.MaxTrainSamples != 0 {
		bad("dataset.max_train_samples", "0 with dataset.buffer (a streamed epoch reads every shard)", "%d", d.MaxTrainSamples)
	}
	if d.Buffer > 0 && len(d.Where) > 0 {
		for _, k := range sortedKeys(d.Where) {
			bad("dataset.where."+k, "no where with dataset.buffer (a streamed epoch reads every row of its shards)", "not used with a streamed data set")
		}
	}
	if d.Validation == "path" {
		if !streams {
			bad("dataset.validation", "split or test (path: only with name: npy or parquet)", "path is not used by %s", d.Name)
		}
		if d.ValidationPath == "" {
			bad("dataset.validation_path", "a 2-D .npy file or a .parquet file of vectors (relative to the working directory, or absolute)", "missing (validation: path)")
		}
	} else if d.ValidationPath != "" {
		bad("dataset.validation_path", "only with validation: path", "not used with validation: %s", d.Validation)
	}
}

// The fewest rows a run can use: the training loop needs a row, and the validation
// explained variance (1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖²) compares rows with their mean,
// which one row does not define. pkg/data refuses splits with fewer.
const (
	MinTrainRows      = 1
	MinValidationRows = 2
)
