// Package spec is the schema of an experiment: the YAML file a researcher writes.
//
// A Spec names a dataset, a model, a loss, an optimizer, regularizers, what to record
// and how to sweep hyperparameters. Load decodes it strictly (unknown keys, wrong types
// and out-of-range values are errors that name the file, line, key and allowed values),
// fills in documented defaults for the keys the file omits (it knows which from the YAML
// AST, so a written 0 stays 0 and is accepted or refused, never defaulted) and validates
// it. Everything downstream (sweep expansion, training, recording) reads only the
// resolved Spec, so the file is the single source of truth for what ran;
// experiments/README.md documents every key. Canonical is a resolved spec's identity,
// with keys at their default left out: what run ids hash.
package spec

import "slices"

// Spec is one experiment, and (with Sweep) a family of runs.
type Spec struct {
	Name         string        `yaml:"name" json:"name"`
	Description  string        `yaml:"description,omitempty" json:"description,omitempty"`
	Dataset      Dataset       `yaml:"dataset" json:"dataset"`
	Model        Model         `yaml:"model" json:"model"`
	Loss         string        `yaml:"loss" json:"loss"`
	Optimizer    Optimizer     `yaml:"optimizer" json:"optimizer"`
	Train        Train         `yaml:"train" json:"train"`
	Regularizers []Regularizer `yaml:"regularizers,omitempty" json:"regularizers"`
	Record       Record        `yaml:"record,omitempty" json:"record"`
	// Metrics lists extra validation metrics (see ExtraMetrics).
	Metrics []string `yaml:"metrics,omitempty" json:"metrics,omitempty"`
	// Sweep is not part of a run's resolved configuration: each run has its values
	// substituted in and Sweep cleared.
	Sweep *Sweep `yaml:"sweep,omitempty" json:"-"`
}

// Dataset selects the data and the train/validation split.
type Dataset struct {
	// Name is one of DatasetNames: an image set (digits, mnist, fashion-mnist) or a
	// vector set (parquet, npy, synthetic).
	Name string `yaml:"name" json:"name"`
	// Path (parquet, npy; required there) is a .parquet file or a folder of them, or a
	// 2-D .npy file. A relative path is resolved against the working directory.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Column (parquet) is the list<float32> (or list<float16>) column of vectors.
	// Default: the file's only such column.
	Column string `yaml:"column,omitempty" json:"column,omitempty"`
	// Where (parquet) keeps the rows whose columns equal these values (column: value;
	// strings, integers, bools or numbers), e.g. {run_id: ..., epoch: 3, layer:
	// encoder.0} to read one run, epoch and layer of an activations/ table.
	Where map[string]any `yaml:"where,omitempty" json:"where,omitempty"`
	// Synthetic (synthetic; required there) sizes the generated set of known sparse
	// features.
	Synthetic SyntheticData `yaml:"synthetic,omitempty" json:"synthetic,omitzero"`
	// Validation is "split" (hold out ValidationFraction of the training set), "test"
	// (use the dataset's test set: mnist and fashion-mnist only) or "path" (the file
	// ValidationPath: npy and parquet only; required with Buffer).
	Validation string `yaml:"validation,omitempty" json:"validation"`
	// ValidationPath (validation: path) is a 2-D .npy file or a .parquet file (its
	// vectors in Column, as for the training rows) of validation rows, of the training
	// data's width: a held-out shard. A relative path is resolved against the working
	// directory.
	ValidationPath string `yaml:"validation_path,omitempty" json:"validation_path,omitempty"`
	// Buffer (npy and parquet), in MiB, streams the training rows from Path, a folder
	// of .npy or .parquet shards, holding at most Buffer MiB of rows in memory (three
	// chunks: the one training, the next being read, and an epoch's shorter last one)
	// instead of loading the data set whole. 0 (default): load whole.
	Buffer int `yaml:"buffer,omitempty" json:"buffer,omitempty"`
	// ValidationFraction in [0.01, 0.9] when Validation is "split". Default 0.2.
	ValidationFraction float64 `yaml:"validation_fraction,omitempty" json:"validation_fraction"`
	// SplitSeed fixes the train/validation split; it is independent of train.seed so that
	// every run of a sweep is validated on the same examples. Default 0.
	SplitSeed int64 `yaml:"split_seed,omitempty" json:"split_seed"`
	// MaxTrainSamples and MaxValidationSamples cap the set sizes (0: all). For quick
	// checks and CI.
	MaxTrainSamples      int `yaml:"max_train_samples,omitempty" json:"max_train_samples"`
	MaxValidationSamples int `yaml:"max_validation_samples,omitempty" json:"max_validation_samples"`
}

// SyntheticData sizes dataset.name: synthetic: Samples vectors of length Dim, each a sum
// of exactly Active of Features random unit directions with magnitudes uniform in
// [0.5, 1.5), drawn from Seed (data.Synthetic documents the distribution).
type SyntheticData struct {
	Dim      int `yaml:"dim" json:"dim"`
	Features int `yaml:"features" json:"features"`
	Samples  int `yaml:"samples" json:"samples"`
	Active   int `yaml:"active" json:"active"`
	// Seed draws the features and the vectors. Default 0.
	Seed int64 `yaml:"seed,omitempty" json:"seed"`
}

// Model is a dense encoder/decoder stack. Layers are named encoder.0, encoder.1, …,
// decoder.0, …; regularizers and recorders refer to those names.
type Model struct {
	// Kind is "autoencoder" (default) or "vae" (variational: the encoder's last layer
	// feeds two linear heads, the mean μ and log-variance log σ² of a Gaussian code of
	// Latent units; the decoder reads z = μ + σ·ε; the loss adds KLWeight · KL(N(μ, σ²) ‖ N(0, I))).
	Kind    string  `yaml:"kind,omitempty" json:"kind"`
	Encoder []Layer `yaml:"encoder" json:"encoder"`
	Decoder []Layer `yaml:"decoder" json:"decoder"`
	// Latent is the VAE's code size; its μ head is the layer named "latent".
	Latent int `yaml:"latent,omitempty" json:"latent,omitempty"`
	// KLWeight multiplies the VAE's KL term. Default 1.
	KLWeight float64 `yaml:"kl_weight,omitempty" json:"kl_weight,omitempty"`
	// SAE configures kind "sae" (and only it): the sparse autoencoder of
	// interpretability research, x → h = f(W_enc (x − b_dec) + b_enc) → W_dec h + b_dec,
	// with unit-norm decoder directions. Its layers are encoder.0 (the latents) and
	// decoder.0; encoder and decoder lists are not used.
	SAE SAE `yaml:"sae,omitempty" json:"sae"`
}

// SAE is a sparse autoencoder's configuration (model.kind: sae). Names follow SAELens
// where it has one. See pkg/sae for the formulas.
type SAE struct {
	// Latents is the dictionary size (SAELens' d_sae).
	Latents int `yaml:"latents,omitempty" json:"latents"`
	// Activation is one of SAEActivations: relu (with L1Coefficient), topk (K per
	// sample), batchtopk (K per sample on average over a batch; evaluated with one
	// learned threshold) or jumprelu (a learned threshold per latent, with L0Coefficient).
	Activation string `yaml:"activation,omitempty" json:"activation"`
	// K is the number of active latents per sample (topk, batchtopk).
	K int `yaml:"k,omitempty" json:"k"`
	// L1Coefficient is λ of relu's penalty λ Σ_j |h_j| ‖d_j‖ (mean over samples).
	L1Coefficient float64 `yaml:"l1_coefficient,omitempty" json:"l1_coefficient"`
	// L0Coefficient is λ of jumprelu's penalty λ Σ_j H(z_j − θ_j) (mean over samples).
	L0Coefficient float64 `yaml:"l0_coefficient,omitempty" json:"l0_coefficient"`
	// L1WarmupSteps and L0WarmupSteps W ramp relu's L1 and jumprelu's L0 coefficient up
	// linearly: the n-th optimizer step uses λ·min(1, n/W) (SAELens' l1_warm_up_steps,
	// l0_warm_up_steps). 0 (default): λ from the first step.
	L1WarmupSteps int `yaml:"l1_warmup_steps,omitempty" json:"l1_warmup_steps"`
	L0WarmupSteps int `yaml:"l0_warmup_steps,omitempty" json:"l0_warmup_steps"`
	// Bandwidth is jumprelu's ε, the width of the rectangle kernel of its
	// pseudo-derivatives. Default 0.001.
	Bandwidth float64 `yaml:"bandwidth,omitempty" json:"bandwidth"`
	// InitialThreshold is jumprelu's θ at the start (every latent). Default 0.001.
	InitialThreshold float64 `yaml:"initial_threshold,omitempty" json:"initial_threshold"`
	// ThresholdMomentum is β of batchtopk's evaluation threshold, an exponential moving
	// average of the smallest activation each training batch keeps. Default 0.999.
	ThresholdMomentum float64 `yaml:"threshold_momentum,omitempty" json:"threshold_momentum"`
	// AuxK is how many dead latents reconstruct the residual in the AuxK loss (topk,
	// batchtopk). Omitted: half the input size.
	AuxK int `yaml:"aux_k,omitempty" json:"aux_k"`
	// AuxCoefficient is α of the AuxK loss (topk, batchtopk); 0 turns it off. Default 1/32.
	AuxCoefficient float64 `yaml:"aux_coefficient,omitempty" json:"aux_coefficient"`
	// DeadAfter is how many training samples a latent must go without firing to count
	// as dead (for AuxK and the train dead_fraction). Default 10,000,000.
	DeadAfter int64 `yaml:"dead_after,omitempty" json:"dead_after"`
	// BDecInit is b_dec's initial value: geometric_median (default), mean or zeros of
	// the training set.
	BDecInit string `yaml:"b_dec_init,omitempty" json:"b_dec_init"`
	// Normalize scales the inputs: none (default) or unit_mean_squared_norm (by one
	// factor c, from the training set, so that mean ‖c·x‖² = 1; the factor is in the
	// runs table, and recorded weights and reconstructions are in the data's own units).
	Normalize string `yaml:"normalize,omitempty" json:"normalize"`
	// MatryoshkaWidths are matryoshka_batchtopk's nested prefix sizes, ascending, the
	// last equal to Latents: the loss is the sum of each prefix's reconstruction loss.
	MatryoshkaWidths []int `yaml:"matryoshka_widths,omitempty" json:"matryoshka_widths,omitempty"`
}

// Layer is one dense layer. Units 0 on the last decoder layer means "the input size".
type Layer struct {
	Units      int    `yaml:"units,omitempty" json:"units"`
	Activation string `yaml:"activation" json:"activation"`
}

// Optimizer configures the gradient step.
type Optimizer struct {
	// Name is "sgd" or "adam".
	Name         string  `yaml:"name" json:"name"`
	LearningRate float64 `yaml:"learning_rate,omitempty" json:"learning_rate"`
	// Momentum for sgd (classical momentum, 0 = plain SGD). Default 0.
	Momentum float64 `yaml:"momentum,omitempty" json:"momentum"`
	// Beta1, Beta2, Epsilon for adam. Defaults 0.9, 0.999, 1e-7 (Keras' values).
	Beta1   float64 `yaml:"beta1,omitempty" json:"beta1"`
	Beta2   float64 `yaml:"beta2,omitempty" json:"beta2"`
	Epsilon float64 `yaml:"epsilon,omitempty" json:"epsilon"`
	// Schedule varies the learning rate over the optimizer steps (default: constant).
	Schedule Schedule `yaml:"schedule,omitempty" json:"schedule"`
	// ClipGradNorm c > 0 rescales each model's gradient, before the optimizer sees it,
	// by min(1, c / (‖g‖ + 1e-6)), ‖g‖ the global L2 norm over all of that model's
	// parameters (torch.nn.utils.clip_grad_norm_). 0 (default): no clipping.
	ClipGradNorm float64 `yaml:"clip_grad_norm,omitempty" json:"clip_grad_norm"`
}

// Schedule is the learning-rate schedule: the n-th optimizer step of a run (n = 1, 2,
// …, counted over all epochs) uses lr·min(1, n/WarmupSteps) during the warm-up, then
// decays from lr to FinalLearningRate over DecaySteps steps (linear or cosine) and
// stays there. pkg/optim.LearningRate is the formula.
type Schedule struct {
	// WarmupSteps is the linear warm-up's length W (0, the default: none).
	WarmupSteps int `yaml:"warmup_steps,omitempty" json:"warmup_steps"`
	// Decay is one of Decays: constant (default), linear or cosine.
	Decay string `yaml:"decay,omitempty" json:"decay"`
	// DecaySteps is the decay's length D, from the end of the warm-up (linear, cosine).
	DecaySteps int `yaml:"decay_steps,omitempty" json:"decay_steps"`
	// FinalLearningRate is the rate the decay ends at (linear, cosine). Default 0.
	FinalLearningRate float64 `yaml:"final_learning_rate,omitempty" json:"final_learning_rate"`
}

// Train sets the loop.
type Train struct {
	Epochs    int   `yaml:"epochs" json:"epochs"`
	BatchSize int   `yaml:"batch_size" json:"batch_size"`
	Seed      int64 `yaml:"seed,omitempty" json:"seed"`
	// InputNoise is the standard deviation of Gaussian noise added to the inputs during
	// training only (denoising autoencoder); the target stays clean. Default 0.
	InputNoise float64 `yaml:"input_noise,omitempty" json:"input_noise"`
}

// Regularizer adds a penalty to the loss. See RegularizerKinds for the formulas.
type Regularizer struct {
	Kind string `yaml:"kind" json:"kind"`
	// Layer is the regularized layer (l1_activity, kl_sparsity).
	Layer string `yaml:"layer,omitempty" json:"layer,omitempty"`
	// Layers lists the kernels for weight_decay (default: every layer).
	Layers []string `yaml:"layers,omitempty" json:"layers,omitempty"`
	// Weight is λ (l1_activity, weight_decay) or β (kl_sparsity).
	Weight float64 `yaml:"weight" json:"weight"`
	// Target is ρ for kl_sparsity, in (0, 1).
	Target float64 `yaml:"target,omitempty" json:"target,omitempty"`
	// Convention scales kl_sparsity: "textbook" (default) is β·Σ KL; "keras" is
	// β·Σ KL / batch_size, what a Keras activity regularizer computes (Keras divides
	// activity penalties by the batch size): the seed notebooks' β.
	Convention string `yaml:"convention,omitempty" json:"convention,omitempty"`
}

// Record says what is written besides the per-epoch metrics.
type Record struct {
	Activations ActivationsRecord `yaml:"activations,omitempty" json:"activations"`
	Units       UnitsRecord       `yaml:"units,omitempty" json:"units"`
	// Reconstructions writes fixed validation samples' inputs and reconstructions.
	Reconstructions SamplesRecord `yaml:"reconstructions,omitempty" json:"reconstructions"`
	// Generated writes decodings of fixed draws z ~ N(0, I) (kind: vae only).
	Generated SamplesRecord `yaml:"generated,omitempty" json:"generated"`
	// Weights writes every layer's kernel and bias every Every epochs (and at the last);
	// by default at the last epoch only (the trained model is kept).
	Weights WeightsRecord `yaml:"weights,omitempty" json:"weights"`
	// Checkpoints saves each run's whole training state every Every epochs (and when
	// it is interrupted), for --resume to continue from.
	Checkpoints CheckpointsRecord `yaml:"checkpoints,omitempty" json:"checkpoints"`
	// ActiveThreshold: a unit counts as active on a sample when its activation is above
	// this value (|h| for tanh and linear). Default: 0 for relu and satlin, 0.1 otherwise.
	ActiveThreshold *float64 `yaml:"active_threshold,omitempty" json:"active_threshold,omitempty"`
}

// ActivationsRecord writes each probe sample's activation vector.
type ActivationsRecord struct {
	// Layers to record; default: the regularized layers, else the last encoder layer.
	Layers []string `yaml:"layers,omitempty" json:"layers"`
	// Samples is the size of the fixed probe set (first validation examples), or "all"
	// (the whole validation set). Default 256; 0 turns activation recording off.
	Samples SampleCount `yaml:"samples,omitempty" json:"samples"`
	// Every N epochs (and always the last). Default 5.
	Every int `yaml:"every,omitempty" json:"every"`
}

// UnitsRecord writes per-unit statistics over the validation set.
type UnitsRecord struct {
	// Layers to record; default: the regularized layers, else the last encoder layer;
	// [] turns unit statistics off.
	Layers []string `yaml:"layers,omitempty" json:"layers"`
	// Every N epochs (and always the last). Default 1.
	Every int `yaml:"every,omitempty" json:"every"`
}

// WeightsRecord writes the trained parameters to the weights/ table. Every defaults
// to train.epochs (the final weights only); 0 turns it off.
type WeightsRecord struct {
	Every int `yaml:"every,omitempty" json:"every"`
}

// CheckpointsRecord: Every N epochs (default DefaultCheckpointsEvery; 0 turns
// checkpoints off) and when interrupted, each run's state is saved under the sweep
// folder's checkpoints/; a finished run's are removed unless Keep. Steps N > 0 (a
// streamed training set only, with Every > 0) also saves it inside an epoch: at the
// first chunk boundary after every N optimizer steps of the epoch (default 0: only
// after epochs). It is left out of the resolved configuration's JSON when 0, so the
// runs (and checkpoints) of specs from before it keep their configuration hash.
type CheckpointsRecord struct {
	Every int  `yaml:"every,omitempty" json:"every"`
	Steps int  `yaml:"steps,omitempty" json:"steps,omitempty"`
	Keep  bool `yaml:"keep,omitempty" json:"keep,omitempty"`
}

// SamplesRecord writes Samples images every Every epochs (and at the last). Samples 0
// (the default) turns it off.
type SamplesRecord struct {
	Samples int `yaml:"samples,omitempty" json:"samples"`
	Every   int `yaml:"every,omitempty" json:"every"`
}

// Sweep turns one spec into many runs.
type Sweep struct {
	// Method is "grid" (every combination of values) or "random" (Count draws).
	Method string `yaml:"method" json:"method"`
	Count  int    `yaml:"count,omitempty" json:"count,omitempty"`
	// Seed drives random draws; default 0.
	Seed int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Parameters maps a dotted path into the spec (regularizers.0.weight) to its values.
	Parameters map[string]Parameter `yaml:"parameters,omitempty" json:"parameters,omitempty"`
	// Seeds repeats every point with each train.seed listed.
	Seeds []int64 `yaml:"seeds,omitempty" json:"seeds,omitempty"`
}

// Parameter is one swept key: a list of Values, or a range Min..Max drawn with
// Distribution (random method only).
type Parameter struct {
	Values       []any    `yaml:"values,omitempty" json:"values,omitempty"`
	Min          *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max          *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Distribution string   `yaml:"distribution,omitempty" json:"distribution,omitempty"`
}

// Allowed values of the enumerated keys.
var (
	// DatasetNames is ImageDatasets then VectorDatasets.
	DatasetNames = append(slices.Clone(ImageDatasets), VectorDatasets...)
	// ImageDatasets are read by name alone (pkg/data.Load); VectorDatasets need a path
	// or a configuration (pkg/data.Open). pkg/data lists its sets from these.
	ImageDatasets     = []string{"digits", "mnist", "fashion-mnist"}
	VectorDatasets    = []string{"parquet", "npy", "synthetic"}
	ValidationSources = []string{"split", "test", "path"}
	ModelKinds        = []string{"autoencoder", "vae", "sae"}
	SAEActivations    = []string{"relu", "topk", "batchtopk", "jumprelu", "matryoshka_batchtopk"}
	BDecInits         = []string{"geometric_median", "mean", "zeros"}
	Normalizations    = []string{"none", "unit_mean_squared_norm"}
	Activations       = []string{"relu", "sigmoid", "tanh", "linear", "satlin"}
	Losses            = []string{"mse", "bce", "mse_sum", "bce_sum"}
	ExtraMetrics      = []string{"mape"}
	KLConventions     = []string{"textbook", "keras"}
	Optimizers        = []string{"sgd", "adam"}
	Decays            = []string{"constant", "linear", "cosine"}
	RegularizerKinds  = []string{"l1_activity", "kl_sparsity", "weight_decay"}
	SweepMethods      = []string{"grid", "random"}
	Distributions     = []string{"uniform", "log_uniform"}
)

// Limits of dataset.synthetic, checked here and by pkg/data's generator.
const (
	MaxSyntheticDim      = 1 << 16
	MaxSyntheticFeatures = 1 << 20
	MaxSyntheticValues   = 1 << 31 // samples·dim (8 GiB of float32), and features·dim
)
