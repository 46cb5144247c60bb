package results

// The types below are what training hands over to be recorded: one epoch of one model
// (Epoch) and how its training ended (Outcome). They live here, beside the rows they
// become, rather than in pkg/train, so that the results writer needs no training code
// (and thus no GoMLX or cgo); pkg/train names them through type aliases.

// Metric is one named value of an epoch, for one split.
type Metric struct {
	Split string // "train" or "validation"
	Name  string // loss, reconstruction, penalty/kl_sparsity/encoder.0, l0/encoder.0, …
	Value float64
}

// UnitStats are one unit's statistics over the validation set.
type UnitStats struct {
	Layer          string
	Unit           int
	MeanActivation float64
	ActiveFraction float64 // fraction of samples on which the unit is active
	MaxActivation  float64
}

// Activations are the probe samples' activation vectors of one layer.
type Activations struct {
	Layer   string
	Index   []int // each probe sample's index in the validation set
	Labels  []int
	Vectors [][]float32
}

// Image is an input and its reconstruction, or a VAE's decoding of a prior draw.
type Image struct {
	Kind   string // "reconstruction" or "generated"
	Sample int    // position in the fixed set
	Index  int    // validation row (-1 for generated)
	Label  int    // (-1 for generated)
	Input  []float32
	Output []float32
}

// Epoch is what one model produced in one epoch.
type Epoch struct {
	Epoch       int     // from 1
	Elapsed     float64 // seconds since this group started training
	Metrics     []Metric
	Units       []UnitStats    // empty on epochs not recorded
	Activations []Activations  // empty on epochs not recorded
	Images      []Image        // empty on epochs not recorded
	Weights     []LayerWeights // the parameters after this epoch, on epochs record.weights records
}

// Outcome is how one model's training ended.
type Outcome struct {
	Status      string   // one of the Status constants
	Epochs      int      // epochs completed
	DivergedAt  int      // epoch in which the loss became NaN/Inf (0 if it did not)
	Final       []Metric // last finite epoch's metrics
	Message     string
	CompileSecs float64
	Weights     []LayerWeights // the trained parameters, layer by layer
	// ResumedFrom is the epoch of the checkpoint this process resumed the run from:
	// the epochs complete at it (a checkpoint inside an epoch: the epoch before). 0
	// without Resumed: it trained from the start.
	ResumedFrom int
	// Resumed: the run continued from a checkpoint (ResumedFrom 0: one inside epoch 1).
	Resumed bool
	// InputScale is the factor c a sparse autoencoder multiplied its inputs by
	// (model.sae.normalize; 1 without it); NaN for the other models.
	InputScale float64
}

// LayerWeights are one dense layer's trained parameters.
type LayerWeights struct {
	Name    string
	In, Out int
	Kernel  []float32 // In×Out, row-major: Kernel[i*Out+j] connects input i to unit j
	Bias    []float32
	// Threshold is a sparse autoencoder's encoder.0 threshold: a jumprelu's θ per latent,
	// or a batchtopk's single evaluation threshold; nil otherwise.
	Threshold []float32
}
