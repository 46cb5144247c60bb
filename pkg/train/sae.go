package train

import (
	"fmt"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/optim"
	"github.com/sparselab/saerun/pkg/sae"
	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// A sparse autoencoder (model.kind: sae) is the model x → h = f(z) → x̂ = W_dec h + b_dec,
// z = W_enc (x − b_dec) + b_enc. What every SAE shares is here: the input scale, the
// forward pass around the activation, the reconstruction loss, AuxK, the unit-norm
// decoder constraint around the optimizer step, the count of how long each latent has
// been silent, and the metrics (L0, FVU, nmse, dead and dense fractions). The
// activation f (model.sae.activation) is one saeActivation per file (sae_*.go),
// registered by name in saeActivations: its selection, its own state, its sparsity
// penalty, its metrics.
//
// One definition of firing: a latent fires on a sample when h > 0 (sae.Fires). L0,
// the silence counters (AuxK, the train dead_fraction) and the validation dead and
// dense fractions all count it; record.active_threshold, a rule for the autoencoders'
// dense units, does not apply to an SAE's code.

func init() { registerModel("sae", newSAEModel) }

// saeModel is a group of sparse autoencoders.
type saeModel struct {
	gr         *group
	cfg        spec.SAE // the structural keys (members[0]'s)
	act        saeActivation
	kmax, auxK int // the group's largest k; AuxK's k (0: no AuxK)
	// scale is c, the factor the inputs are multiplied by (1 without normalize); the
	// training and validation sets on the device are already scaled.
	scale float64
	// silent [K, L] int32 counts the training samples since each latent last fired
	// (saturating at dead_after).
	silent *gmodel.Variable
	// actState are the activation's state variables (a batchtopk's threshold).
	actState []*gmodel.Variable
	// sumSq and sumVar are Σ‖x‖² and Σ‖x − mean(x)‖² over the (scaled) validation set.
	sumSq, sumVar float64
	// sel finds the k-th largest pre-activations: XLA's partial sort on XLA (in the
	// compiled loop too: loopSortSelect), the sort-free radix selection on the go
	// backend (whose sort takes seconds per batch).
	sel sae.Select
}

// saeActivation is one model.sae.activation. Methods a kind does not need come from
// saeActivationBase.
type saeActivation interface {
	// newState makes the activation's state variables in scope, for K models.
	newState(scope *gmodel.Scope, K int) []*gmodel.Variable
	// resetState gives them their initial values.
	resetState(vars []*gmodel.Variable, K int) error
	// coefficient is the per-model penalty weight (hp column hpSAECoefficient), and
	// warmup the steps over which it ramps up (hpSAECoefficientWarmup; 0: none).
	coefficient(a spec.SAE) float64
	warmup(a spec.SAE) int
	// encode is the code h [K, B, L] of pre-activations e.z; in training it also
	// returns the activation's next state.
	encode(e saeEncode) (h *Node, next []*Node)
	// reconstruction is the training reconstruction loss [K] (default: the loss of
	// the full reconstruction).
	reconstruction(e saeEncode, h, recon, x *Node) *Node
	// penalties are the activation's training loss terms [K] and their names.
	penalties(e saeEncode, h *Node) []namedTerm
	penaltyNames(s *saeModel) []string
	// evalNames names the per-sample validation terms the activation's metrics need;
	// evalTerms computes them [K, E].
	evalNames(s *saeModel) []string
	evalTerms(e saeEncode, h, recon, x *Node) []namedTerm
	// validation is model k's penalties (terms, added to the loss) and own metrics
	// (info), given its L0 over the validation set.
	validation(s *saeModel, m spec.SAE, v valSums, k int, l0 float64) (terms, info []Metric)
	// threshold is the variable a trained model's thresholds are exported from (nil: none).
	threshold(s *saeModel) *gmodel.Variable
}

// saeEncode is what an activation's graph functions read.
type saeEncode struct {
	s        *saeModel
	w        autoencoder.Weights
	h        hyper
	x        *Node   // the (scaled) inputs [K, B, D]
	z        *Node   // pre-activations [K, B, L]
	state    []*Node // the activation's state values
	rows     sparsity.Rows
	training bool
	step     *Node // the training step's number n (int32 scalar); nil outside training
}

// coefficient is each model's penalty coefficient [K] in effect: λ·min(1, n/W) in a
// training step of a group where some member warms it up (optim.CoefficientRamp), λ
// otherwise.
func (e saeEncode) coefficient() *Node {
	c := e.s.hp(e.h, hpSAECoefficient)
	if e.step == nil || !e.s.gr.recipe.warmup {
		return c
	}
	return Mul(c, optim.CoefficientRamp(e.s.hp(e.h, hpSAECoefficientWarmup), e.step))
}

// k is each model's k [K] (int32).
func (e saeEncode) k() *Node { return ConvertDType(e.s.hp(e.h, hpSAEK), dtypes.Int32) }

// saeActivationBase gives an activation the defaults: no state, no penalty, no own
// metrics, no sorting, the plain reconstruction loss.
type saeActivationBase struct{}

func (saeActivationBase) newState(*gmodel.Scope, int) []*gmodel.Variable { return nil }
func (saeActivationBase) resetState([]*gmodel.Variable, int) error       { return nil }
func (saeActivationBase) coefficient(spec.SAE) float64                   { return 0 }
func (saeActivationBase) warmup(spec.SAE) int                            { return 0 }
func (saeActivationBase) penalties(saeEncode, *Node) []namedTerm         { return nil }
func (saeActivationBase) penaltyNames(*saeModel) []string                { return nil }
func (saeActivationBase) evalNames(*saeModel) []string                   { return nil }
func (saeActivationBase) evalTerms(saeEncode, *Node, *Node, *Node) []namedTerm {
	return nil
}
func (saeActivationBase) threshold(*saeModel) *gmodel.Variable { return nil }
func (saeActivationBase) validation(*saeModel, spec.SAE, valSums, int, float64) (terms, info []Metric) {
	return nil, nil
}
func (saeActivationBase) reconstruction(e saeEncode, _, recon, x *Node) *Node {
	return e.rows.Mean(sparsity.Reconstruction(e.s.gr.spec.Loss, recon, x))
}

// saeActivations are the activations by model.sae.activation.
var saeActivations = map[string]saeActivation{}

func registerSAEActivation(name string, a saeActivation) {
	if _, dup := saeActivations[name]; dup {
		panic("sae activation registered twice: " + name)
	}
	saeActivations[name] = a
}

// KnownSAEActivations lists the registered activations, sorted.
func KnownSAEActivations() []string {
	out := make([]string, 0, len(saeActivations))
	for k := range saeActivations {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// saeDenseFraction: a latent is dense when it fires on more than this fraction of the
// validation samples.
const saeDenseFraction = 0.1

// newSAEModel prepares a group of sparse autoencoders: the input scale, b_dec's initial
// value (into gr.arch) and the state variables. It returns the training and validation
// sets as the device is to hold them (scaled when normalize asks for it).
func newSAEModel(gr *group, store *gmodel.Store, b compute.Backend) (model, []float32, []float32, error) {
	cfg := gr.spec.Model.SAE
	act, ok := saeActivations[cfg.Activation]
	if !ok {
		return nil, nil, nil, fmt.Errorf("model.sae.activation %q: unknown (known: %v)", cfg.Activation, KnownSAEActivations())
	}
	tr, val := gr.data.Train, gr.data.Validation
	s := &saeModel{gr: gr, cfg: cfg, act: act, scale: 1, sel: sae.RadixSelect}
	if backend.IsXLA(b) {
		s.sel = xlaSelect
	}
	s.kmax = largestK(gr.members)
	if cfg.UsesAuxK() {
		s.auxK = cfg.AuxKFor(tr.Dim)
	}
	xTrain, xVal := tr.X, val.X
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
	s.actState = act.newState(scope, K)
	return s, xTrain, xVal, nil
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

// xlaSelect is the selection on XLA: sae.SortSelect, inside a compiled loop too
// (loopSortSelect); sae.RadixSelect in the loop measured 1.2-1.6× the time per step
// (BenchmarkSAEStepsPerCall, bench/sae/README.md).
var xlaSelect sae.Select = loopSortSelect

// saeEncodeFn computes the pre-activations: sae.Encode (a variable so that
// BenchmarkSAEStepsPerCall can time the written form, as before issue 24, beside it).
var saeEncodeFn = sae.Encode

// loopSortSelect is sae.SortSelect, buildable inside a compiled loop's body on XLA
// (closuresHere); where that workaround cannot apply, sae.RadixSelect (the same value).
func loopSortSelect(x, k *Node, kmax int) *Node {
	var out *Node
	if closuresHere(x.Graph(), func() { out = sae.SortSelect(x, k, kmax) }) {
		return out
	}
	return sae.RadixSelect(x, k, kmax)
}

func (s *saeModel) initialSilent(K int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(make([]int32, K*s.cfg.Latents), K, s.cfg.Latents)
}

func (s *saeModel) hasAux() bool       { return s.auxK > 0 }
func (s *saeModel) usesRNG() bool      { return false }
func (s *saeModel) observed() []string { return []string{"encoder.0"} } // its statistics give the dead and dense fractions

// state are the state variables, in the order the step carries them: the silence
// counters, then the activation's.
func (s *saeModel) state() []*gmodel.Variable {
	return append([]*gmodel.Variable{s.silent}, s.actState...)
}

// reset gives the state variables their initial values (a reused group's new members).
func (s *saeModel) reset(K int) error {
	if err := autoencoder.SetVariable(s.silent, s.initialSilent(K)); err != nil {
		return err
	}
	return s.act.resetState(s.actState, K)
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
	hpSAECoefficientWarmup
	hpSAEColumns
)

func (s *saeModel) hyper(sp *spec.Spec) []float32 {
	a := sp.Model.SAE
	return []float32{float32(a.K), float32(s.act.coefficient(a)), float32(a.Bandwidth), float32(a.ThresholdMomentum),
		float32(a.DeadAfter), float32(a.AuxCoefficient), float32(s.act.warmup(a))}
}

func (s *saeModel) hp(h hyper, column int) *Node {
	return h.column(hpRegularizers + 2*len(s.gr.spec.Regularizers) + column)
}

// saeCode is an SAE's forward pass over x [K, B, D] (scaled inputs).
type saeCode struct {
	e        saeEncode
	h, recon *Node // code [K, B, L]; reconstruction [K, B, D]
	next     []*Node
}

// encode runs the models over x. training selects a batch selection (rather than an
// evaluation threshold); state are the state variables' values (state's order).
func (s *saeModel) encode(w autoencoder.Weights, h hyper, state []*Node, x *Node, training bool, rows sparsity.Rows) saeCode {
	wEnc, bEnc, wDec, bDec := w.Kernels[0], w.Biases[0], w.Kernels[1], w.Biases[1]
	e := saeEncode{s: s, w: w, h: h, x: x, state: state[1:], rows: rows, training: training}
	e.z = saeEncodeFn(x, wEnc, bEnc, bDec)
	c := saeCode{e: e}
	c.h, c.next = s.act.encode(e)
	c.recon = Add(Einsum("kbi,koi->kbo", c.h, wDec), ExpandAxes(bDec, 1))
	return c
}

// forward is the evaluation pass in the layout of autoencoder.Output (Acts: the
// code, then the reconstruction).
func (s *saeModel) forward(w autoencoder.Weights, h hyper, state []*Node, x *Node) autoencoder.Output {
	c := s.encode(w, h, state, x, false, sparsity.Rows{})
	return autoencoder.Output{Recon: c.recon, Acts: []*Node{c.h, c.recon}}
}

// loss is one training step's loss of every model [K] and its metric columns
// (total, reconstruction, the activation's penalties, AuxK, L0; see trainNames), and
// the state after the step (before the active mask applies).
//
// Without aux the AuxK column is 0: the program for steps where no latent is dead.
func (s *saeModel) loss(in stepIn) stepOut {
	x, rows, h := in.input, in.rows, in.h
	c := s.encode(in.w, h, in.state, x, true, rows)
	c.e.step = in.step
	rec := s.act.reconstruction(c.e, c.h, c.recon, x)
	total := rec
	metrics := []*Node{nil, rec}
	for _, p := range s.act.penalties(c.e, c.h) {
		total, metrics = Add(total, p.x), append(metrics, p.x)
	}
	silent := in.state[0]
	deadAfter := ConvertDType(s.hp(h, hpSAEDeadAfter), dtypes.Int32)
	switch {
	case s.auxK > 0 && in.aux:
		// α · V · AuxK, V the batch's variance in the loss's units: the loss is then V
		// times (the batch's reconstruction error relative to predicting its mean +
		// α × AuxK), OpenAI's training loss, so that α means the same at any scale of
		// the data (experiments/README.md, AuxK).
		dead := GreaterOrEqual(silent, ExpandAxes(deadAfter, -1))
		alpha := Mul(s.hp(h, hpSAEAuxCoefficient), s.batchVariance(x, rows))
		a := Mul(alpha, sae.AuxK(c.e.z, dead, Sub(x, c.recon), in.w.Kernels[1], s.auxK, rows, s.sel))
		total, metrics = Add(total, a), append(metrics, a)
	case s.auxK > 0:
		metrics = append(metrics, ZerosLike(rec))
	}
	fires := ConvertDType(sae.Fires(c.h), dtypes.Float32)
	metrics = append(metrics, rows.Mean(ReduceSum(fires, -1))) // L0

	// A latent that fired on a sample of the batch is silent for 0 samples; the others
	// for n more (saturating at dead_after, so that the count cannot overflow).
	firings := rows.Sum(fires) // [K, L]
	fired := GreaterThan(firings, ZerosLike(firings))
	more := Min(Add(silent, ConvertDType(in.samples, dtypes.Int32)), ExpandAxes(deadAfter, -1))
	next := append([]*Node{Where(fired, ZerosLike(silent), more)}, c.next...)
	return stepOut{total: total, metrics: metrics, state: next, rng: in.rng}
}

// batchVariance is each model's [K] reconstruction loss of predicting every sample of
// the batch x [K, B, D] by the batch's mean: the data's variance in the units of the
// loss (mean over samples of ‖x − mean(x)‖² for mse_sum, per element for mse), the
// denominator of Gao et al.'s normalized MSE (the batch's fvu).
func (s *saeModel) batchVariance(x *Node, rows sparsity.Rows) *Node {
	mean := BroadcastToDims(ExpandAxes(rows.Mean(x), 1), x.Shape().Dimensions...)
	return rows.Mean(sparsity.Reconstruction(s.gr.spec.Loss, mean, x))
}

// anyDead is whether any model has a latent silent for its dead_after samples: the
// next step needs AuxK. state are the state values after the call.
func (s *saeModel) anyDead(state []*Node, h hyper) *Node {
	deadAfter := ConvertDType(s.hp(h, hpSAEDeadAfter), dtypes.Int32)
	return LogicalAny(GreaterOrEqual(state[0], ExpandAxes(deadAfter, -1)))
}

// trainNames names loss's metric columns.
func (s *saeModel) trainNames() []string {
	names := append([]string{"loss", "reconstruction"}, s.act.penaltyNames(s)...)
	if s.auxK > 0 {
		names = append(names, "penalty/auxk/encoder.0")
	}
	return append(names, "l0")
}

// constrainGradients and constrainParams apply the decoder constraint around an
// optimizer step: the gradient of W_dec loses its components along the decoder
// directions (before the step), and the directions are renormalised to unit norm
// (after it, for the models that stepped).
func (s *saeModel) constrainGradients(grads, params []*Node) {
	grads[1] = sae.ProjectOutParallel(grads[1], params[1])
}

func (s *saeModel) constrainParams(params []*Node, update *Node) {
	params[1] = Where(keepShape(update, params[1]), sae.UnitColumns(params[1]), params[1])
}

// firing is the one definition of an SAE latent firing: h > 0 (sae.Fires), whatever
// record.active_threshold says. The reconstruction layer (decoder.0) keeps the rule
// of linear units at its default threshold.
func (s *saeModel) firing(l autoencoder.Layer) func(a *Node) *Node {
	if l.Name == "encoder.0" {
		return sae.Fires
	}
	thr, absolute := activityRule(l.Activation, nil)
	return func(a *Node) *Node {
		level := a
		if absolute {
			level = Abs(a)
		}
		return GreaterThan(level, Scalar(a.Graph(), dtypes.Float32, thr))
	}
}

func (s *saeModel) evalNames() []string {
	return append([]string{"sae/sq_error", "sae/l0"}, s.act.evalNames(s)...)
}

// evalTerms are the validation sums an SAE adds: per sample Σ_D (x̂ − x)², the number
// of firing latents, and the activation's own.
func (s *saeModel) evalTerms(w autoencoder.Weights, out autoencoder.Output, x *Node) []namedTerm {
	h := out.Acts[0]
	terms := []namedTerm{
		{"sae/sq_error", ReduceSum(Square(Sub(out.Recon, x)), -1)},
		{"sae/l0", ReduceSum(ConvertDType(sae.Fires(h), dtypes.Float32), -1)},
	}
	e := saeEncode{s: s, w: w, x: x}
	return append(terms, s.act.evalTerms(e, h, out.Recon, x)...)
}

// validation turns model k's validation sums into its metrics. Every definition is
// over the N validation samples, in the data's own units (the scale cancels in the
// ratios):
//
//	loss                reconstruction + the activation's penalty (relu, jumprelu)
//	l0                  mean over samples of the number of latents with h > 0
//	fvu                 Σ‖x − x̂‖² / Σ‖x − mean(x)‖² (fraction of variance unexplained)
//	explained_variance  1 − fvu
//	nmse                Σ‖x − x̂‖² / Σ‖x‖² (relative to predicting 0; Gao et al.'s
//	                    "normalized MSE", relative to predicting the mean, is fvu)
//	dead_fraction       latents that fire on no validation sample, / L
//	dense_fraction      latents that fire on more than 10 % of them, / L
func (s *saeModel) validation(k int, v valSums) (terms, info []Metric) {
	m := s.gr.members[k].Spec.Model.SAE
	l0 := v.sum("sae/l0")[k] / v.n
	terms, own := s.act.validation(s, m, v, k, l0)
	st := v.layer("encoder.0")
	dead, dense := 0, 0
	for _, a := range st.active {
		if a == 0 {
			dead++
		}
		if a > saeDenseFraction*v.n {
			dense++
		}
	}
	sqErr := v.sum("sae/sq_error")[k]
	fvu := ratio(sqErr, s.sumVar)
	L := float64(len(st.active))
	info = []Metric{
		{Split: "validation", Name: "l0", Value: l0},
		{Split: "validation", Name: "fvu", Value: fvu},
		{Split: "validation", Name: "explained_variance", Value: 1 - fvu},
		{Split: "validation", Name: "nmse", Value: ratio(sqErr, s.sumSq)},
		{Split: "validation", Name: "dead_fraction", Value: float64(dead) / L},
		{Split: "validation", Name: "dense_fraction", Value: float64(dense) / L}}
	return terms, append(info, own...)
}

// epochMetrics reads each model's fraction of latents silent for dead_after training
// samples or more (the latents AuxK trains), at the end of an epoch.
func (s *saeModel) epochMetrics() ([][]Metric, error) {
	t, err := s.silent.Value()
	if err != nil {
		return nil, err
	}
	silent := tensors.MustCopyFlatData[int32](t)
	K, L := len(s.gr.members), s.cfg.Latents
	out := make([][]Metric, K)
	for k, m := range s.gr.members {
		dead := 0
		for _, v := range silent[k*L : (k+1)*L] {
			if int64(v) >= m.Spec.Model.SAE.DeadAfter {
				dead++
			}
		}
		out[k] = []Metric{{Split: "train", Name: "dead_fraction", Value: float64(dead) / float64(L)}}
	}
	return out, nil
}

// dataUnits divides a reconstruction by the input scale.
func (s *saeModel) dataUnits(recon *Node) *Node {
	if s.scale != 1 {
		return DivScalar(recon, s.scale)
	}
	return recon
}

// export folds the input scale back into every model's weights, so that they map the
// data's own units: W_enc·c, b_dec/c, W_dec/c (b_enc and thresholds unchanged), and
// adds the thresholds (a jumprelu's θ per latent, a batchtopk's one θ).
func (s *saeModel) export(out [][]LayerWeights) ([][]LayerWeights, error) {
	th, err := s.thresholds()
	if err != nil {
		return nil, err
	}
	c := s.scale
	for k, layers := range out {
		if c != 1 {
			mul := func(v []float32, f float64) []float32 { // in place: layerWeights made v
				for i, x := range v {
					v[i] = float32(float64(x) * f)
				}
				return v
			}
			layers[0].Kernel = mul(layers[0].Kernel, c)
			layers[1].Kernel, layers[1].Bias = mul(layers[1].Kernel, 1/c), mul(layers[1].Bias, 1/c)
		}
		if th != nil {
			layers[0].Threshold = th[k]
		}
	}
	return out, nil
}

// thresholds copies the thresholds to the host, per model (nil without).
func (s *saeModel) thresholds() ([][]float32, error) {
	v := s.act.threshold(s)
	if v == nil {
		return nil, nil
	}
	t, err := v.Value()
	if err != nil {
		return nil, err
	}
	flat := tensors.MustCopyFlatData[float32](t)
	K := len(s.gr.members)
	n := len(flat) / K
	out := make([][]float32, K)
	for k := range out {
		out[k] = flat[k*n : (k+1)*n]
	}
	return out, nil
}

// inputScale is the factor c a sparse autoencoder's inputs were multiplied by (1
// without normalize).
func (s *saeModel) inputScale() float64    { return s.scale }
func (s *saeModel) prior() *tensors.Tensor { return nil }
