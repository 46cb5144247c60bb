package train

import (
	"context"
	"maps"
	"math"
	"sort"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
)

const saeBase = `name: s
dataset: {name: digits, max_train_samples: 300, max_validation_samples: 100}
model:
  kind: sae
  sae: {latents: 32, activation: topk, k: 4, dead_after: 600}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 100, seed: 1}
record: {activations: {samples: 0}, weights: {every: 1}, reconstructions: {samples: 5}}
`

func saeMember(t testing.TB, id string, overrides map[string]any) Member {
	t.Helper()
	_, src, err := spec.Parse("s.yaml", []byte(saeBase))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Resolve(overrides)
	if err != nil {
		t.Fatal(err)
	}
	return Member{RunID: id, Spec: s}
}

// saeBackend is XLA where a plugin is installed (the go backend's sort makes SAE steps
// slow), else the go backend.
func saeBackend(t *testing.T) compute.Backend {
	t.Helper()
	bs := backendsForTest(t)
	if b, ok := bs["xla"]; ok {
		return b
	}
	return bs["go"]
}

func finalValue(t *testing.T, h *History, k int, split, name string) float64 {
	t.Helper()
	e := h.Epochs[k]
	v := value(e[len(e)-1], split, name)
	if math.IsNaN(v) {
		t.Fatalf("model %d has no %s %s", k, split, name)
	}
	return v
}

// The decoder directions are unit vectors after every optimizer step: one step per
// epoch here (a batch holds the whole training set), weights recorded every epoch.
func TestSAEDecoderDirectionsHaveUnitNormAfterEveryStep(t *testing.T) {
	for _, act := range []map[string]any{
		{"model.sae.activation": "topk"},
		{"model.sae.activation": "relu", "model.sae.k": nil, "model.sae.l1_coefficient": 0.1},
	} {
		act["train.batch_size"], act["train.epochs"] = 300, 4
		_, h := trainOn(t, saeBackend(t), saeMember(t, "a", act))
		for _, e := range h.Epochs[0] {
			dec := e.Weights[1]
			if dec.Name != "decoder.0" || dec.In != 32 || dec.Out != 64 {
				t.Fatalf("weights[1] is %s %d×%d, want decoder.0 32×64", dec.Name, dec.In, dec.Out)
			}
			for j := 0; j < dec.In; j++ {
				n := 0.0
				for _, v := range dec.Kernel[j*dec.Out : (j+1)*dec.Out] {
					n += float64(v) * float64(v)
				}
				if math.Abs(math.Sqrt(n)-1) > 1e-5 {
					t.Fatalf("%v epoch %d: decoder direction %d has norm %v", act["model.sae.activation"], e.Epoch, j, math.Sqrt(n))
				}
			}
		}
	}
}

func TestJumpReLUL0FallsAsItsPenaltyRises(t *testing.T) {
	var members []Member
	for i, l := range []float64{0, 0.05, 0.5} {
		members = append(members, saeMember(t, string(rune('a'+i)), map[string]any{
			"model.sae.activation": "jumprelu", "model.sae.k": nil, "model.sae.l0_coefficient": l,
			"model.sae.normalize": "unit_mean_squared_norm", "model.sae.initial_threshold": 0.05,
			"model.sae.bandwidth": 0.05, "train.epochs": 6, "train.batch_size": 25}))
	}
	_, h := trainOn(t, saeBackend(t), members...)
	var l0 []float64
	for k := range members {
		l0 = append(l0, finalValue(t, h, k, "validation", "l0"))
	}
	if !(l0[0] > l0[1] && l0[1] > l0[2]) {
		t.Fatalf("validation L0 for λ = 0, 0.05, 0.5: %v, want strictly falling", l0)
	}
	th := h.Epochs[2][len(h.Epochs[2])-1].Weights[0].Threshold
	if len(th) != 32 {
		t.Fatalf("exported jumprelu thresholds: %d values, want one per latent", len(th))
	}
}

// A sweep over k trains in one group (per-model k under the group's largest) and each
// model trains as it would alone.
func TestTopKModelsOfDifferentKGroupedTrainAsAlone(t *testing.T) {
	b := saeBackend(t)
	a, c := saeMember(t, "a", map[string]any{"model.sae.k": 3}), saeMember(t, "c", map[string]any{"model.sae.k": 7, "train.seed": 2})
	if GroupKey(a.Spec) != GroupKey(c.Spec) {
		t.Fatal("models that differ only in k do not share a group")
	}
	_, together := trainOn(t, b, a, c)
	for k, m := range []Member{a, c} {
		_, alone := trainOn(t, b, m)
		for _, name := range []string{"loss", "l0", "fvu", "nmse"} {
			g, w := finalValue(t, together, k, "validation", name), finalValue(t, alone, 0, "validation", name)
			if math.Abs(g-w) > 1e-5*math.Max(1, math.Abs(w)) {
				t.Errorf("model %s: %s %v grouped, %v alone", m.RunID, name, g, w)
			}
		}
		if l0 := finalValue(t, together, k, "validation", "l0"); l0 != float64(m.Spec.Model.SAE.K) {
			t.Errorf("model %s: validation L0 %v, want k = %d", m.RunID, l0, m.Spec.Model.SAE.K)
		}
	}
}

// Exported weights are in the data's own units: encoding and decoding a validation
// sample with them on the host gives the reconstruction the run recorded, with input
// normalisation on (the scale folded back into W_enc, W_dec and b_dec).
func TestSAEExportedWeightsReproduceTheRecordedReconstructions(t *testing.T) {
	m := saeMember(t, "a", map[string]any{"model.sae.normalize": "unit_mean_squared_norm", "model.sae.b_dec_init": "mean"})
	out, h := trainOn(t, saeBackend(t), m)
	if s := out[0].InputScale; !(s > 0) || s == 1 {
		t.Fatalf("input scale %v, want the normalising factor", s)
	}
	last := h.Epochs[0][len(h.Epochs[0])-1]
	enc, dec := last.Weights[0], last.Weights[1]
	D, L, k := enc.In, enc.Out, m.Spec.Model.SAE.K
	for _, im := range last.Images {
		z := make([]float64, L)
		for j := range z {
			z[j] = float64(enc.Bias[j])
			for i := 0; i < D; i++ {
				z[j] += (float64(im.Input[i]) - float64(dec.Bias[i])) * float64(enc.Kernel[i*L+j])
			}
		}
		sorted := append([]float64(nil), z...)
		sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
		for i := 0; i < D; i++ {
			x := float64(dec.Bias[i])
			for j, v := range z {
				if v >= sorted[k-1] && v > 0 {
					x += v * float64(dec.Kernel[j*D+i])
				}
			}
			if math.Abs(x-float64(im.Output[i])) > 1e-3*math.Max(1, math.Abs(x)) {
				t.Fatalf("sample %d pixel %d: host decoding %v, recorded %v", im.Index, i, x, im.Output[i])
			}
		}
	}
}

// A trained BatchTopK SAE evaluates with its learned threshold (exported), keeping
// about k latents per sample on average.
func TestBatchTopKLearnsAnEvaluationThreshold(t *testing.T) {
	m := saeMember(t, "a", map[string]any{"model.sae.activation": "batchtopk", "model.sae.k": 6, "train.epochs": 5, "train.batch_size": 50})
	_, h := trainOn(t, saeBackend(t), m)
	last := h.Epochs[0][len(h.Epochs[0])-1]
	th := last.Weights[0].Threshold
	if len(th) != 1 || !(th[0] > 0) {
		t.Fatalf("batchtopk threshold %v, want one positive value", th)
	}
	if tr := value(last, "train", "l0"); math.Abs(tr-6) > 1e-9 {
		t.Errorf("training L0 %v, want exactly k = 6 on average", tr)
	}
	if v := value(last, "validation", "l0"); v < 2 || v > 18 {
		t.Errorf("validation L0 with the learned threshold %v, want near k = 6", v)
	}
}

func TestSAEMetricsFollowTheirDefinitions(t *testing.T) {
	_, h := trainOn(t, saeBackend(t), saeMember(t, "a", nil))
	e := h.Epochs[0][len(h.Epochs[0])-1]
	fvu, ev := value(e, "validation", "fvu"), value(e, "validation", "explained_variance")
	if math.Abs(fvu+ev-1) > 1e-12 || !(fvu > 0 && fvu < 1) {
		t.Errorf("fvu %v, explained_variance %v", fvu, ev)
	}
	// reconstruction is the mean Σ_D (x̂ − x)² (loss mse_sum), so fvu·Σ‖x − mean‖²/N is it.
	rec, nmse := value(e, "validation", "reconstruction"), value(e, "validation", "nmse")
	if !(nmse > 0 && nmse < fvu) { // digits are far from 0: variance about 0 is larger
		t.Errorf("nmse %v should be below fvu %v for data away from the origin", nmse, fvu)
	}
	if rec <= 0 {
		t.Errorf("reconstruction %v", rec)
	}
	for _, name := range []string{"dead_fraction", "dense_fraction"} {
		if v := value(e, "validation", name); !(v >= 0 && v <= 1) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if v := value(e, "train", "penalty/auxk/encoder.0"); math.IsNaN(v) {
		t.Error("no AuxK penalty metric")
	}
}

// While no latent is dead, AuxK's loss and gradient are exactly 0, and the step that
// leaves it out (what runs then) trains bit for bit as a model without AuxK; once
// latents die (dead_after 100 samples here), the AuxK step runs and its loss shows.
func TestAuxKRunsOnlyOnceLatentsAreDeadAndChangesNothingBefore(t *testing.T) {
	b := saeBackend(t)
	_, never := trainOn(t, b, saeMember(t, "a", map[string]any{"model.sae.dead_after": 1 << 30}))
	_, off := trainOn(t, b, saeMember(t, "a", map[string]any{"model.sae.aux_coefficient": 0}))
	for _, name := range []string{"loss", "fvu", "l0"} {
		if g, w := finalValue(t, never, 0, "validation", name), finalValue(t, off, 0, "validation", name); g != w {
			t.Errorf("%s: %v with AuxK that never fires, %v without AuxK", name, g, w)
		}
	}
	if v := finalValue(t, never, 0, "train", "penalty/auxk/encoder.0"); v != 0 {
		t.Errorf("AuxK penalty %v with no dead latent", v)
	}
	_, dying := trainOn(t, b, saeMember(t, "a", map[string]any{"model.sae.dead_after": 100, "model.sae.latents": 64, "model.sae.k": 2}))
	aux := 0.0
	for _, e := range dying.Epochs[0] {
		aux += value(e, "train", "penalty/auxk/encoder.0")
	}
	if !(aux > 0) || !(finalValue(t, dying, 0, "train", "dead_fraction") >= 0) {
		t.Errorf("AuxK penalty over the epochs %v with latents dead after 100 samples, want > 0", aux)
	}
}

// A TopK SAE trained on the synthetic set recovers its ground-truth features: for
// every true feature the best cosine similarity with a learned decoder direction,
// averaged over the features, is at least 0.9 (the test; settings from
// pkg/data/testdata/recovery/recovery.py). XLA only: 470 sorting steps are minutes on
// the go backend.
func TestTopKSAERecoversTheSyntheticFeatures(t *testing.T) {
	b := xlaOrSkip(t)
	cfg := data.SyntheticConfig{Dim: 64, Features: 128, Samples: 30000, Active: 4, Seed: 3}
	set, err := data.Synthetic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := data.SyntheticFeatures(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := data.Split(set, 0.05, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := saeMember(t, "a", map[string]any{"model.sae.latents": 256, "model.sae.k": 4, "model.sae.b_dec_init": "zeros",
		"optimizer.learning_rate": 0.001, "train.batch_size": 256, "train.epochs": 4, "record.weights.every": 4,
		"record.reconstructions.samples": 0, "dataset.max_train_samples": 0, "dataset.max_validation_samples": 0})
	rec := &History{}
	if _, err := Train(context.Background(), b, []Member{m}, Data{Train: tr, Validation: val}, rec); err != nil {
		t.Fatal(err)
	}
	last := rec.Epochs[0][len(rec.Epochs[0])-1]
	dec := last.Weights[1] // [latents, dim], unit rows
	mean := 0.0
	for f := 0; f < cfg.Features; f++ {
		best := -1.0
		for j := 0; j < dec.In; j++ {
			dot := 0.0
			for d := 0; d < cfg.Dim; d++ {
				dot += float64(truth[f*cfg.Dim+d]) * float64(dec.Kernel[j*dec.Out+d])
			}
			best = math.Max(best, dot)
		}
		mean += best / float64(cfg.Features)
	}
	t.Logf("mean best cosine similarity %.4f, validation fvu %.4f", mean, value(last, "validation", "fvu"))
	if mean < 0.9 {
		t.Fatalf("mean best cosine similarity %.4f, want >= 0.9", mean)
	}
}

// The go backend (radix selection, one step per call) and XLA (partial sort) train the
// same SAEs: their validation metrics agree to float32 summation noise.
func TestSAEsTrainAlikeOnGoAndXLA(t *testing.T) {
	bs := backendsForTest(t)
	if _, ok := bs["xla"]; !ok {
		t.Skip("no XLA plugin")
	}
	for _, over := range []map[string]any{
		{"model.sae.activation": "topk"},
		{"model.sae.activation": "batchtopk", "model.sae.dead_after": 200},
		{"model.sae.activation": "jumprelu", "model.sae.k": nil, "model.sae.l0_coefficient": 0.01, "model.sae.normalize": "unit_mean_squared_norm"},
	} {
		over["train.epochs"] = 2
		_, g := trainOn(t, bs["go"], saeMember(t, "a", over))
		_, x := trainOn(t, bs["xla"], saeMember(t, "a", over))
		for _, name := range []string{"loss", "fvu", "l0"} {
			a, b := finalValue(t, g, 0, "validation", name), finalValue(t, x, 0, "validation", name)
			if math.Abs(a-b) > 1e-3*math.Max(1, math.Abs(b)) {
				t.Errorf("%v: %s %v on go, %v on xla", over["model.sae.activation"], name, a, b)
			}
		}
	}
}

func TestSAEGroupKeyIgnoresItsTensorHyperparametersOnly(t *testing.T) {
	a := saeMember(t, "a", nil)
	same := saeMember(t, "b", map[string]any{"model.sae.k": 9, "model.sae.aux_coefficient": 0.5, "model.sae.dead_after": 50, "train.seed": 4})
	if GroupKey(a.Spec) != GroupKey(same.Spec) {
		t.Error("SAEs differing in k, AuxK's α and dead_after do not share a group")
	}
	for _, over := range []map[string]any{{"model.sae.aux_coefficient": 0}, {"model.sae.latents": 48}, {"model.sae.activation": "batchtopk"}} {
		if GroupKey(a.Spec) == GroupKey(saeMember(t, "c", over).Spec) {
			t.Errorf("%v shares a group with the base", over)
		}
	}
}

// One definition of firing: an SAE latent fires when h > 0 (L0 counts it), and
// record.active_threshold, the autoencoders' rule for dense units, changes no SAE
// metric. Threshold 1.5 is above most kept activations here (checked below), so a
// dead/dense fraction or an active_fraction that followed it would differ.
func TestActiveThresholdChangesNoSAEMetric(t *testing.T) {
	b := saeBackend(t)
	units := map[string]any{"record.units.layers": []any{"encoder.0"}, "record.units.every": 1,
		"model.sae.latents": 32, "model.sae.k": 16}
	_, plain := trainOn(t, b, saeMember(t, "a", units))
	with := maps.Clone(units)
	with["record.active_threshold"] = 1.5
	_, high := trainOn(t, b, saeMember(t, "a", with))
	for i, e := range plain.Epochs[0] {
		f := high.Epochs[0][i]
		if len(e.Metrics) != len(f.Metrics) {
			t.Fatalf("epoch %d: %d metrics, %d with active_threshold 1.5", e.Epoch, len(e.Metrics), len(f.Metrics))
		}
		for j, m := range e.Metrics {
			if f.Metrics[j] != m {
				t.Errorf("epoch %d: %v without active_threshold, %v with 1.5", e.Epoch, m, f.Metrics[j])
			}
		}
		if len(e.Units) == 0 || len(e.Units) != len(f.Units) {
			t.Fatalf("epoch %d: %d unit rows, %d with active_threshold 1.5", e.Epoch, len(e.Units), len(f.Units))
		}
		for j, u := range e.Units {
			if f.Units[j] != u {
				t.Errorf("epoch %d: unit %+v without active_threshold, %+v with 1.5", e.Epoch, u, f.Units[j])
			}
		}
	}
	last := plain.Epochs[0][len(plain.Epochs[0])-1]
	below := 0
	for _, u := range last.Units {
		if u.ActiveFraction > 0 && u.MaxActivation < 1.5 {
			below++
		}
	}
	if below == 0 {
		t.Fatal("no firing latent stays below 1.5: the threshold would not matter, the test proves nothing")
	}
	if l0, dead := value(last, "validation", "l0"), value(last, "validation", "dead_fraction"); !(l0 > 0) || dead == 1 {
		t.Errorf("l0 %v and dead_fraction %v: a latent that fires is not dead", l0, dead)
	}
}
