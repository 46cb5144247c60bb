package train

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/sae"
	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// A group of sparse autoencoders (model.kind: sae) trains in the same loop as the other
// models; what it adds is here: its forward pass (pkg/sae's activations), its losses
// (a sparsity penalty, AuxK), the unit-norm decoder constraint around the optimizer
// step, two pieces of state that are not weights (how long each latent has been silent,
// and a BatchTopK's evaluation threshold) and its metrics (L0, FVU, nmse, dead and dense
// fractions).

// saeGroup is what a group of sparse autoencoders adds to group.
type saeGroup struct {
	cfg        spec.SAE // the structural keys (members[0]'s)
	kmax, auxK int      // the group's largest k; AuxK's k (0: no AuxK)
	// scale is c, the factor the inputs are multiplied by (1 without normalize); the
	// training and validation sets on the device are already scaled.
	scale float64
	// silent [K, L] int32 counts the training samples since each latent last fired
	// (saturating at dead_after); threshold [K] is a batchtopk's evaluation threshold
	// (-1 until its first step), nil otherwise.
	silent, threshold *gmodel.Variable
	// sumSq and sumVar are Σ‖x‖² and Σ‖x − mean(x)‖² over the (scaled) validation set.
	sumSq, sumVar float64
	// sel finds the k-th largest pre-activations: XLA's partial sort on XLA, the sort-free
	// radix selection on the go backend (whose sort takes seconds per batch).
	sel sae.Select
}

// saeDenseFraction: a latent is dense when it fires on more than this fraction of the
// validation samples.
const saeDenseFraction = 0.1

// newSAEGroup prepares a group of sparse autoencoders: the input scale, b_dec's initial
// value (into gr.arch) and the state variables. It returns the training and validation
// sets as the device is to hold them (scaled when normalize asks for it).
func (gr *group) newSAEGroup(store *gmodel.Store, b compute.Backend) (xTrain, xVal []float32) {
	cfg := gr.spec.Model.SAE
	tr, val := gr.data.Train, gr.data.Validation
	s := &saeGroup{cfg: cfg, scale: 1, sel: sae.RadixSelect}
	if backend.IsXLA(b) {
		s.sel = sae.SortSelect
	}
	s.kmax = largestK(gr.members)
	if cfg.UsesAuxK() {
		s.auxK = cfg.AuxKFor(tr.Dim)
	}
	xTrain, xVal = tr.X, val.X
	if cfg.Normalize == "unit_mean_squared_norm" {
		s.scale = sae.NormalizingScale(tr.X, tr.N, tr.Dim)
		xTrain, xVal = scaled(tr.X, s.scale), scaled(val.X, s.scale)
	}
	switch cfg.BDecInit {
	case "geometric_median":
		gr.arch.SAE.BDec = sae.GeometricMedian(xTrain, tr.N, tr.Dim)
	case "mean":
		gr.arch.SAE.BDec = sae.Mean(xTrain, tr.N, tr.Dim)
	}
	s.sumSq, s.sumVar = sae.SquaredNorms(xVal, val.N, val.Dim)
	K := len(gr.members)
	scope := store.RootScope().In("sae_state")
	s.silent = scope.VariableWithValue("silent", s.initialSilent(K)).SetTrainable(false)
	if cfg.Activation == "batchtopk" {
		s.threshold = scope.VariableWithValue("threshold", initialThreshold(K)).SetTrainable(false)
	}
	gr.sae = s
	return xTrain, xVal
}

// largestK is the largest model.sae.k of members (0 for other models): the compiled
// selection's size, under which each model's own k is a mask.
func largestK(members []Member) int {
	k := 0
	for _, m := range members {
		k = max(k, m.Spec.Model.SAE.K)
	}
	return k
}

func scaled(x []float32, c float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) * c)
	}
	return out
}

func (s *saeGroup) initialSilent(K int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(make([]int32, K*s.cfg.Latents), K, s.cfg.Latents)
}

func initialThreshold(K int) *tensors.Tensor {
	t := make([]float32, K)
	for i := range t {
		t[i] = -1
	}
	return tensors.FromFlatDataAndDimensions(t, K)
}

// sorts reports whether the models' steps select their top pre-activations (topk,
// batchtopk, AuxK). GoMLX v0.28.2 builds a sort's comparator as a closure of the main
// function, which go-xla refuses inside a loop body ("Sort comparator must be a closure
// of the current function"): such a group runs one step (and one validation batch) per
// call, with XLA's partial-sort TopK, rather than the sort-free RadixSelect in a loop,
// which costs six times as much at 4,096 latents. At the sizes where SAEs are trained a
// step takes tenths of a second, against a call overhead of well under a millisecond.
func (s *saeGroup) sorts() bool {
	return s != nil && (s.cfg.Activation == "topk" || s.cfg.Activation == "batchtopk" || s.auxK > 0)
}

// vars are the state variables, in the order the step carries them.
func (s *saeGroup) vars() []*gmodel.Variable {
	if s == nil {
		return nil
	}
	if s.threshold != nil {
		return []*gmodel.Variable{s.silent, s.threshold}
	}
	return []*gmodel.Variable{s.silent}
}

// reset gives the state variables their initial values (a reused group's new members).
func (s *saeGroup) reset(K int) error {
	if err := autoencoder.SetVariable(s.silent, s.initialSilent(K)); err != nil {
		return err
	}
	if s.threshold != nil {
		return autoencoder.SetVariable(s.threshold, initialThreshold(K))
	}
	return nil
}

// saeHyper are the per-model hyperparameters of a sparse autoencoder, columns of hp
// after the regularizers'.
const (
	hpSAEK = iota
	hpSAECoefficient
	hpSAEBandwidth
	hpSAEMomentum
	hpSAEDeadAfter
	hpSAEAuxCoefficient
	hpSAEColumns
)

func saeHyper(s *spec.Spec) []float32 {
	a := s.Model.SAE
	coefficient := a.L1Coefficient
	if a.Activation == "jumprelu" {
		coefficient = a.L0Coefficient
	}
	return []float32{float32(a.K), float32(coefficient), float32(a.Bandwidth), float32(a.ThresholdMomentum),
		float32(a.DeadAfter), float32(a.AuxCoefficient)}
}

func (h hyper) sae(column, regularizers int) *Node {
	return h.column(hpRegularizers + 2*regularizers + column)
}

func (gr *group) saeHP(h hyper, column int) *Node { return h.sae(column, len(gr.spec.Regularizers)) }

// saeCode is an SAE's forward pass over x [K, B, D] (scaled inputs).
type saeCode struct {
	z, h, recon *Node // pre-activations and code [K, B, L]; reconstruction [K, B, D]
	minKept     *Node // batchtopk in training: each model's smallest kept activation [K]
}

// saeForward runs the models over x. training selects BatchTopK's batch selection
// (rather than its threshold); state are the state variables' values (vars' order).
func (gr *group) saeForward(w autoencoder.Weights, h hyper, state []*Node, x *Node, training bool, rows sparsity.Rows) saeCode {
	wEnc, bEnc, wDec, bDec := w.Kernels[0], w.Biases[0], w.Kernels[1], w.Biases[1]
	c := saeCode{}
	c.z = Add(Einsum("kbi,koi->kbo", Sub(x, ExpandAxes(bDec, 1)), wEnc), ExpandAxes(bEnc, 1))
	k := ConvertDType(gr.saeHP(h, hpSAEK), dtypes.Int32)
	switch gr.sae.cfg.Activation {
	case "relu":
		c.h = Max(c.z, ZerosLike(c.z))
	case "topk":
		c.h = sae.KeepTopK(c.z, k, gr.sae.kmax, gr.sae.sel)
	case "batchtopk":
		if training {
			c.h, c.minKept = sae.KeepBatchTopK(c.z, k, gr.sae.kmax, rows, gr.sae.sel)
		} else {
			c.h = sae.Threshold(c.z, state[1])
		}
	case "jumprelu":
		c.h = sae.JumpReLU(c.z, w.Threshold, gr.saeHP(h, hpSAEBandwidth))
	default:
		panic(fmt.Sprintf("unknown sae activation %q (allowed: %v)", gr.sae.cfg.Activation, spec.SAEActivations))
	}
	c.recon = Add(Einsum("kbi,koi->kbo", c.h, wDec), ExpandAxes(bDec, 1))
	return c
}

// saeOutput is the forward pass in the layout of autoencoder.Output (Acts: the code,
// then the reconstruction), for validation and recording.
func (gr *group) saeOutput(w autoencoder.Weights, h hyper, state []*Node, x *Node) autoencoder.Output {
	c := gr.saeForward(w, h, state, x, false, sparsity.Rows{})
	return autoencoder.Output{Recon: c.recon, Acts: []*Node{c.h, c.recon}}
}

// saeLoss is one training step's loss of every model [K] and its metric columns
// (total, reconstruction, the sparsity penalty, AuxK, L0; see saeMetricNames), and the
// state after the step (before the active mask applies).
//
// Without aux the AuxK column is 0: the program for steps where no latent is dead.
func (gr *group) saeLoss(w autoencoder.Weights, h hyper, state []*Node, x *Node, rows sparsity.Rows, n *Node, aux bool) (total *Node, metrics, next []*Node) {
	c := gr.saeForward(w, h, state, x, true, rows)
	rec := rows.Mean(sparsity.Reconstruction(gr.spec.Loss, c.recon, x))
	total = rec
	metrics = []*Node{nil, rec}
	switch gr.sae.cfg.Activation {
	case "relu":
		p := sae.WeightedL1(c.h, w.Kernels[1], gr.saeHP(h, hpSAECoefficient), rows)
		total, metrics = Add(total, p), append(metrics, p)
	case "jumprelu":
		p := sae.L0(c.z, w.Threshold, gr.saeHP(h, hpSAECoefficient), gr.saeHP(h, hpSAEBandwidth), rows)
		total, metrics = Add(total, p), append(metrics, p)
	}
	silent := state[0]
	deadAfter := ConvertDType(gr.saeHP(h, hpSAEDeadAfter), dtypes.Int32)
	switch {
	case gr.sae.auxK > 0 && aux:
		dead := GreaterOrEqual(silent, ExpandAxes(deadAfter, -1))
		a := Mul(gr.saeHP(h, hpSAEAuxCoefficient), sae.AuxK(c.z, dead, Sub(x, c.recon), w.Kernels[1], gr.sae.auxK, rows, gr.sae.sel))
		total, metrics = Add(total, a), append(metrics, a)
	case gr.sae.auxK > 0:
		metrics = append(metrics, ZerosLike(rec))
	}
	fires := ConvertDType(GreaterThan(c.h, ZerosLike(c.h)), dtypes.Float32)
	metrics = append(metrics, rows.Mean(ReduceSum(fires, -1))) // L0
	metrics[0] = total

	// A latent that fired on a sample of the batch is silent for 0 samples; the others
	// for n more (saturating at dead_after, so that the count cannot overflow).
	firings := rows.Sum(fires) // [K, L]
	fired := GreaterThan(firings, ZerosLike(firings))
	more := Min(Add(silent, ConvertDType(n, dtypes.Int32)), ExpandAxes(deadAfter, -1))
	next = []*Node{Where(fired, ZerosLike(silent), more)}
	if gr.sae.threshold != nil {
		next = append(next, sae.UpdateThreshold(state[1], c.minKept, gr.saeHP(h, hpSAEMomentum)))
	}
	return total, metrics, next
}

// saeAnyDead is whether any model has a latent silent for its dead_after samples: the
// next step needs AuxK. state are the state values after the call.
func (gr *group) saeAnyDead(state []*Node, h hyper) *Node {
	deadAfter := ConvertDType(gr.saeHP(h, hpSAEDeadAfter), dtypes.Int32)
	return LogicalAny(GreaterOrEqual(state[0], ExpandAxes(deadAfter, -1)))
}

// saeMetricNames names saeLoss's metric columns.
func (gr *group) saeMetricNames() []string {
	names := []string{"loss", "reconstruction"}
	switch gr.sae.cfg.Activation {
	case "relu":
		names = append(names, "penalty/l1/encoder.0")
	case "jumprelu":
		names = append(names, "penalty/l0/encoder.0")
	}
	if gr.sae.auxK > 0 {
		names = append(names, "penalty/auxk/encoder.0")
	}
	return append(names, "l0")
}

// saeProject and saeRenormalize apply the decoder constraint around an optimizer step:
// the gradient of W_dec loses its components along the decoder directions (before the
// step), and the directions are renormalised to unit norm (after it, for the models
// that stepped).
func (gr *group) saeProject(grads, params []*Node) {
	grads[1] = sae.ProjectOutParallel(grads[1], params[1])
}

func (gr *group) saeRenormalize(params []*Node, update *Node) {
	params[1] = Where(keepShape(update, params[1]), sae.UnitColumns(params[1]), params[1])
}

// saeEvalSums are the validation sums an SAE adds: per sample Σ_D (x̂ − x)², the
// number of active latents, and Σ_j |h_j|·‖d_j‖ (relu's penalty).
func (gr *group) saeEvalTerms(w autoencoder.Weights, out autoencoder.Output, x *Node) (sqErr, l0, weightedL1 *Node) {
	h := out.Acts[0]
	sqErr = ReduceSum(Square(Sub(out.Recon, x)), -1)
	l0 = ReduceSum(ConvertDType(GreaterThan(h, ZerosLike(h)), dtypes.Float32), -1)
	weightedL1 = ReduceSum(Mul(Abs(h), ExpandAxes(sae.DecoderNorms(w.Kernels[1]), 1)), -1)
	return sqErr, l0, weightedL1
}

// saeValidation turns model k's validation sums into its metrics. Every definition is
// over the N validation samples, in the data's own units (the scale cancels in the
// ratios):
//
//	loss                reconstruction + the sparsity penalty (relu, jumprelu)
//	l0                  mean over samples of the number of latents with h > 0
//	fvu                 Σ‖x − x̂‖² / Σ‖x − mean(x)‖² (fraction of variance unexplained)
//	explained_variance  1 − fvu
//	nmse                Σ‖x − x̂‖² / Σ‖x‖² (OpenAI's normalized MSE, about zero)
//	dead_fraction       latents that fire on no validation sample, / L
//	dense_fraction      latents that fire on more than 10 % of them, / L
func (gr *group) saeValidation(k int, e *evalSums, st *layerStats) []Metric {
	m := gr.members[k].Spec.Model.SAE
	N := float64(gr.data.Validation.N)
	recLoss := e.recon[k] / N
	l0 := e.saeL0[k] / N
	metrics := []Metric{{"validation", "reconstruction", recLoss}}
	total := recLoss
	switch m.Activation {
	case "relu":
		p := m.L1Coefficient * e.saeWeightedL1[k] / N
		total += p
		metrics = append(metrics, Metric{"validation", "penalty/l1/encoder.0", p})
	case "jumprelu":
		p := m.L0Coefficient * l0
		total += p
		metrics = append(metrics, Metric{"validation", "penalty/l0/encoder.0", p})
	}
	dead, dense := 0, 0
	for _, a := range st.active {
		if a == 0 {
			dead++
		}
		if a > saeDenseFraction*N {
			dense++
		}
	}
	fvu := ratio(e.saeSqErr[k], gr.sae.sumVar)
	L := float64(len(st.active))
	return append([]Metric{{"validation", "loss", total}}, append(metrics,
		Metric{"validation", "l0", l0},
		Metric{"validation", "fvu", fvu},
		Metric{"validation", "explained_variance", 1 - fvu},
		Metric{"validation", "nmse", ratio(e.saeSqErr[k], gr.sae.sumSq)},
		Metric{"validation", "dead_fraction", float64(dead) / L},
		Metric{"validation", "dense_fraction", float64(dense) / L})...)
}

// saeTrainDead reads each model's fraction of latents silent for dead_after training
// samples or more (the latents AuxK trains), at the end of an epoch.
func (gr *group) saeTrainDead() ([]float64, error) {
	t, err := gr.sae.silent.Value()
	if err != nil {
		return nil, err
	}
	silent := tensors.MustCopyFlatData[int32](t)
	K, L := len(gr.members), gr.sae.cfg.Latents
	out := make([]float64, K)
	for k, m := range gr.members {
		dead := 0
		for _, s := range silent[k*L : (k+1)*L] {
			if int64(s) >= m.Spec.Model.SAE.DeadAfter {
				dead++
			}
		}
		out[k] = float64(dead) / float64(L)
	}
	return out, nil
}

// saeExport folds the input scale back into model k's weights, so that they map the
// data's own units: W_enc·c, b_dec/c, W_dec/c (b_enc and thresholds unchanged), and
// adds the thresholds (a jumprelu's θ per latent, a batchtopk's one θ).
func (gr *group) saeExport(layers []LayerWeights, thresholds [][]float32, k int) []LayerWeights {
	c := gr.sae.scale
	if c != 1 {
		mul := func(v []float32, f float64) []float32 {
			out := make([]float32, len(v))
			for i, x := range v {
				out[i] = float32(float64(x) * f)
			}
			return out
		}
		layers[0].Kernel = mul(layers[0].Kernel, c)
		layers[1].Kernel, layers[1].Bias = mul(layers[1].Kernel, 1/c), mul(layers[1].Bias, 1/c)
	}
	if thresholds != nil {
		layers[0].Threshold = thresholds[k]
	}
	return layers
}

// saeThresholds copies the thresholds to the host, per model (nil for topk and relu).
func (gr *group) saeThresholds() ([][]float32, error) {
	var v *gmodel.Variable
	switch {
	case gr.params.Threshold != nil:
		v = gr.params.Threshold
	case gr.sae.threshold != nil:
		v = gr.sae.threshold
	default:
		return nil, nil
	}
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	flat := tensors.MustCopyFlatData[float32](t)
	K := len(gr.members)
	n := len(flat) / K
	out := make([][]float32, K)
	for k := range out {
		out[k] = flat[k*n : (k+1)*n]
	}
	return out, nil
}

// inputScale is the factor c a sparse autoencoder's inputs were multiplied by (1
// without normalize); NaN for other models.
func (gr *group) inputScale() float64 {
	if gr.sae == nil {
		return math.NaN()
	}
	return gr.sae.scale
}
