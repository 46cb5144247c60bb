package train

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
)

const base = `name: t
dataset: {name: digits, max_train_samples: 300, max_validation_samples: 100}
model:
  encoder: [{units: 24, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 32, seed: 1}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 1}
  - {kind: weight_decay, weight: 0.001}
record: {activations: {samples: 10}}
`

func member(t *testing.T, id string, overrides map[string]any) Member {
	t.Helper()
	_, src, err := spec.Parse("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Resolve(overrides)
	if err != nil {
		t.Fatal(err)
	}
	return Member{RunID: id, Spec: s}
}

func digits(t *testing.T) Data {
	t.Helper()
	ds, err := data.Load("digits", "")
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := data.Split(ds.Train, 0.2, 0)
	if err != nil {
		t.Fatal(err)
	}
	return Data{Train: tr.Head(300), Validation: val.Head(100)}
}

func train(t *testing.T, members ...Member) ([]Outcome, *History) {
	t.Helper()
	b, err := compute.NewWithConfig("go:ops_sequential") // as backend.Open("go"): the parallel default can deadlock (pkg/backend/gopool_test.go)
	if err != nil {
		t.Fatal(err)
	}
	return trainOn(t, b, members...)
}

func trainOn(t *testing.T, b compute.Backend, members ...Member) ([]Outcome, *History) {
	t.Helper()
	rec := &History{}
	out, err := Train(context.Background(), b, members, digits(t), rec)
	if err != nil {
		t.Fatal(err)
	}
	return out, rec
}

func value(e *Epoch, split, name string) float64 {
	for _, m := range e.Metrics {
		if m.Split == split && m.Name == name {
			return m.Value
		}
	}
	return math.NaN()
}

func TestTrainingLowersTheLossAndRecordsEverything(t *testing.T) {
	out, rec := train(t, member(t, "a", nil))
	if out[0].Status != StatusCompleted || out[0].Epochs != 3 {
		t.Fatalf("outcome %+v", out[0])
	}
	eps := rec.Epochs[0]
	first, last := value(eps[0], "validation", "loss"), value(eps[2], "validation", "loss")
	if !(last < first) {
		t.Errorf("validation loss did not decrease: %v -> %v", first, last)
	}
	for _, name := range []string{"loss", "reconstruction", "penalty/kl_sparsity/encoder.0", "penalty/weight_decay"} {
		for _, split := range []string{"train", "validation"} {
			if v := value(eps[2], split, name); math.IsNaN(v) {
				t.Errorf("missing metric %s/%s", split, name)
			}
		}
	}
	for _, name := range []string{"mean_activation/encoder.0", "l0/encoder.0", "dead_fraction/encoder.0"} {
		if v := value(eps[2], "validation", name); math.IsNaN(v) {
			t.Errorf("missing metric %s", name)
		}
	}
	if w := out[0].Weights; len(w) != 2 || w[0].Name != "encoder.0" || len(w[0].Kernel) != 64*24 || len(w[1].Bias) != 64 {
		t.Errorf("trained weights: %d layers", len(w))
	}
	if s := rec.Series(0, "validation", "loss"); len(s) != 3 || s[2] != value(eps[2], "validation", "loss") {
		t.Errorf("history series %v", s)
	}
	if len(eps[2].Units) != 24 || len(eps[2].Activations) != 1 || len(eps[2].Activations[0].Vectors) != 10 {
		t.Errorf("units %d, activations %+v", len(eps[2].Units), len(eps[2].Activations))
	}
	// Validation loss is reconstruction plus the penalties.
	e := eps[2]
	sum := value(e, "validation", "reconstruction") + value(e, "validation", "penalty/kl_sparsity/encoder.0") + value(e, "validation", "penalty/weight_decay")
	if math.Abs(sum-value(e, "validation", "loss")) > 1e-9 {
		t.Errorf("loss %v != sum of parts %v", value(e, "validation", "loss"), sum)
	}
}

func TestSameSpecAndSeedGiveBitIdenticalMetrics(t *testing.T) {
	_, a := train(t, member(t, "a", map[string]any{"train.input_noise": 0.1}))
	_, b := train(t, member(t, "a", map[string]any{"train.input_noise": 0.1}))
	for i := range a.Epochs[0] {
		for j, m := range a.Epochs[0][i].Metrics {
			if m.Value != b.Epochs[0][i].Metrics[j].Value {
				t.Fatalf("epoch %d %s: %v != %v", i+1, m.Name, m.Value, b.Epochs[0][i].Metrics[j].Value)
			}
		}
	}
}

// A model trained in a group gets what it would get alone: its own init, data order,
// noise, optimizer state and hyperparameters. Checked on the go backend, and on XLA
// where a plugin is installed; the tolerance (1e-5 relative) allows float32 sums
// taken in another order by a batched matrix product.
func TestGroupedModelsMatchTheSameModelsTrainedAlone(t *testing.T) {
	sets := map[string][]map[string]any{
		// Own seeds, one with input noise: each model gathers its own batches.
		"own data order": {
			{"regularizers.0.weight": 0.3, "train.seed": 1},
			{"regularizers.0.weight": 3, "regularizers.0.target": 0.1, "train.seed": 2, "train.input_noise": 0.2},
			{"optimizer.learning_rate": 0.003, "regularizers.1.weight": 0.01, "train.seed": 3},
		},
		// One seed for all: the models read the same batches.
		"shared data order": {
			{"regularizers.0.weight": 0.3},
			{"regularizers.0.weight": 3, "regularizers.0.target": 0.1},
			{"optimizer.learning_rate": 0.003, "regularizers.1.weight": 0.01},
		},
	}
	backends := backendsForTest(t)
	for setName, overrides := range sets {
		var members []Member
		for i, o := range overrides {
			members = append(members, member(t, string(rune('a'+i)), o))
		}
		for name, b := range backends {
			t.Run(setName+"/"+name, func(t *testing.T) {
				_, grouped := trainOn(t, b, members...)
				for k, m := range members {
					_, alone := trainOn(t, b, m)
					for i, e := range alone.Epochs[0] {
						for j, metric := range e.Metrics {
							got := grouped.Epochs[k][i].Metrics[j].Value
							if math.Abs(got-metric.Value) > 1e-5*math.Max(1, math.Abs(metric.Value)) {
								t.Errorf("model %d epoch %d %s/%s: grouped %v, alone %v", k, i+1, metric.Split, metric.Name, got, metric.Value)
							}
						}
					}
				}
			})
		}
	}
}

func TestDivergedModelIsFrozenAndTheOthersGoOn(t *testing.T) {
	ok := member(t, "ok", nil)
	// λ/2·‖W‖² overflows float32: the loss is Inf from the first step.
	bad := member(t, "bad", map[string]any{"regularizers.1.weight": 1e38})
	out, rec := train(t, ok, bad)
	if out[1].Status != StatusDiverged || out[1].DivergedAt == 0 {
		t.Errorf("bad model: %+v", out[1])
	}
	if out[0].Status != StatusCompleted || len(rec.Epochs[0]) != 3 {
		t.Errorf("good model: %+v, %d epochs", out[0], len(rec.Epochs[0]))
	}
	_, alone := train(t, ok)
	if a, g := value(alone.Epochs[0][2], "validation", "loss"), value(rec.Epochs[0][2], "validation", "loss"); math.Abs(a-g) > 1e-5 {
		t.Errorf("good model affected by the diverged one: %v vs %v alone", g, a)
	}
}

func TestGroupKeyIgnoresTensorHyperparametersOnly(t *testing.T) {
	a := member(t, "a", map[string]any{"regularizers.0.weight": 0.1, "train.seed": 5, "optimizer.learning_rate": 0.1})
	b := member(t, "b", map[string]any{"regularizers.0.target": 0.2, "train.input_noise": 0.3})
	c := member(t, "c", map[string]any{"train.batch_size": 16})
	if GroupKey(a.Spec) != GroupKey(b.Spec) {
		t.Error("runs differing only in tensor hyperparameters must share a group")
	}
	if GroupKey(a.Spec) == GroupKey(c.Spec) {
		t.Error("runs with different batch sizes must not share a group")
	}
}

const vaeSpec = `name: v
dataset: {name: digits}
model:
  kind: vae
  latent: 4
  encoder: [{units: 32, activation: relu}]
  decoder: [{units: 32, activation: relu}, {activation: sigmoid}]
loss: bce_sum
optimizer: {name: adam, learning_rate: 0.003}
train: {epochs: 4, batch_size: 32, seed: 3}
metrics: [mape]
record:
  reconstructions: {samples: 5}
  generated: {samples: 6, every: 2}
`

func TestVAETrainsRecordsKLAndGeneratesImages(t *testing.T) {
	_, src, err := spec.Parse("v.yaml", []byte(vaeSpec))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, rec := train(t, Member{RunID: "v", Spec: s}, Member{RunID: "w", Spec: s})
	if out[0].Status != StatusCompleted {
		t.Fatalf("%+v", out[0])
	}
	eps := rec.Epochs[0]
	last := eps[len(eps)-1]
	kl := value(last, "validation", "penalty/gaussian_kl/latent")
	if !(kl > 0) {
		t.Errorf("VAE KL term = %v, want > 0", kl)
	}
	if v := value(last, "validation", "mape"); !(v > 0 && v < 1000) {
		t.Errorf("mape = %v", v)
	}
	if first, l := value(eps[0], "validation", "loss"), value(last, "validation", "loss"); !(l < first) {
		t.Errorf("VAE loss did not decrease: %v -> %v", first, l)
	}
	kinds := map[string]int{}
	for _, im := range last.Images {
		kinds[im.Kind]++
		if len(im.Output) != 64 {
			t.Errorf("image of %d pixels", len(im.Output))
		}
	}
	if kinds["reconstruction"] != 5 || kinds["generated"] != 6 {
		t.Errorf("images at the last epoch: %v", kinds)
	}
	if n := len(eps[0].Images); n != 5 {
		t.Errorf("epoch 1 (generated every 2): %d images, want 5 reconstructions", n)
	}
	// The two members share seed and spec: same numbers in a group.
	if a, b := value(last, "validation", "loss"), value(rec.Epochs[1][len(eps)-1], "validation", "loss"); math.Abs(a-b) > 1e-6 {
		t.Errorf("identical members differ: %v vs %v", a, b)
	}
}

func TestInputNoiseIsForTrainingOnly(t *testing.T) {
	// Validation of a denoising model is on clean inputs: with the weights fixed
	// (learning rate ~0), noise changes the training loss but not the validation loss.
	clean := member(t, "c", map[string]any{"optimizer.learning_rate": 1e-12})
	noisy := member(t, "n", map[string]any{"optimizer.learning_rate": 1e-12, "train.input_noise": 0.5})
	_, rec := train(t, clean, noisy)
	c, n := rec.Epochs[0][0], rec.Epochs[1][0]
	if math.Abs(value(c, "validation", "reconstruction")-value(n, "validation", "reconstruction")) > 1e-6 {
		t.Errorf("noise leaked into validation")
	}
	if value(n, "train", "reconstruction") <= value(c, "train", "reconstruction") {
		t.Errorf("noise should raise the training reconstruction loss")
	}
}

// Kernels are stored [K, out, in] on the device; the exported weights are in×out, as
// GlorotUniform draws them. With a negligible learning rate they are the initial values.
func TestExportedWeightsAreInByOutLikeTheInitialisation(t *testing.T) {
	out, _ := train(t, member(t, "w", map[string]any{"optimizer.learning_rate": 1e-12, "train.epochs": 1}))
	w := out[0].Weights[0]
	want := autoencoder.GlorotUniform(1, 0, 64, 24)
	for i := range want {
		if math.Abs(float64(w.Kernel[i]-want[i])) > 1e-6 {
			t.Fatalf("kernel[%d] = %v, want %v (layout)", i, w.Kernel[i], want[i])
		}
	}
}

// xlaOrSkip opens the XLA backend, or skips where no plugin is installed (fails where
// SAERUN_REQUIRE_XLA=1).
func xlaOrSkip(t testing.TB) compute.Backend {
	t.Helper()
	backend.SkipWithoutXLA(t)
	b, _, err := backend.Open("xla")
	if err != nil {
		t.Fatalf("plugin found but not loadable: %v", err)
	}
	return b
}

// backendsForTest are the go backend and, where a plugin is installed, XLA: a test
// that checks both still checks go where there is no plugin (and fails where
// SAERUN_REQUIRE_XLA=1 asks for XLA).
func backendsForTest(t *testing.T) map[string]compute.Backend {
	t.Helper()
	goB, _, err := backend.Open("go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]compute.Backend{"go": goB}
	if _, ok := backend.FindPlugin(); ok || backend.XLARequired() {
		out["xla"] = xlaOrSkip(t)
	}
	return out
}

// How many steps one call of the compiled loop runs changes nothing: a whole epoch per
// call, 3 steps per call (the last call of an epoch running past its end) and one step
// per call give the same numbers to the last bit.
func TestStepsPerCallDoNotChangeTheResults(t *testing.T) {
	b := xlaOrSkip(t)
	members := []Member{
		member(t, "a", map[string]any{"train.input_noise": 0.1}),
		member(t, "b", map[string]any{"regularizers.0.weight": 3, "train.seed": 2}),
	}
	var runs []*History
	for _, steps := range []int{0, 3, 1} {
		h := &History{}
		tr := NewTrainer(b, Options{StepsPerCall: steps})
		_, err := tr.Train(context.Background(), members, digits(t), h)
		tr.Close()
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, h)
	}
	for r, h := range runs[1:] {
		for k := range members {
			for e, ep := range runs[0].Epochs[k] {
				for j, m := range ep.Metrics {
					if got := h.Epochs[k][e].Metrics[j].Value; got != m.Value {
						t.Errorf("run %d, model %d epoch %d %s/%s: %v, whole epoch per call: %v", r+1, k, e+1, m.Split, m.Name, got, m.Value)
					}
				}
			}
		}
	}
}

// A model whose loss stops being finite in the middle of an epoch (and of a compiled
// loop) is stopped at that step: it is reported diverged with the step, keeps its
// last finite parameters, and its group mates train on as they would alone.
func TestModelDivergingMidEpochStopsAtThatStep(t *testing.T) {
	for name, b := range backendsForTest(t) {
		t.Run(name, func(t *testing.T) {
			// Plain SGD on λ/2·‖W‖² with lr·λ = 1000 multiplies every kernel by -999 per
			// step: the penalty passes float32's range after a few steps, not at the first.
			ok := member(t, "ok", map[string]any{"optimizer.name": "sgd", "optimizer.learning_rate": 0.5})
			bad := member(t, "bad", map[string]any{"optimizer.name": "sgd", "optimizer.learning_rate": 10, "regularizers.1.weight": 100})
			out, err := Train(context.Background(), b, []Member{ok, bad}, digits(t), &History{})
			if err != nil {
				t.Fatal(err)
			}
			if out[1].Status != StatusDiverged || out[1].DivergedAt != 1 {
				t.Fatalf("bad model: %+v", out[1])
			}
			if strings.Contains(out[1].Message, "batch 0") || !strings.Contains(out[1].Message, "epoch 1, batch") {
				t.Errorf("diverged after some steps, at a later batch; message %q", out[1].Message)
			}
			for _, l := range out[1].Weights {
				for _, v := range append(append([]float32(nil), l.Kernel...), l.Bias...) {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("layer %s kept a non-finite parameter: updates did not stop", l.Name)
					}
				}
			}
			if out[0].Status != StatusCompleted {
				t.Errorf("the other model: %+v", out[0])
			}
		})
	}
}

// A Trainer compiles a group once and trains the next group of the same structure
// with the same programs: that group's results equal those of a fresh compilation,
// also after a streamed group, which frees its chunks and optimizer state after its
// last epoch.
func TestTrainerReusesAGroupWithTheNextMembersInitialState(t *testing.T) {
	backends := backendsForTest(t)
	first := []Member{member(t, "a", map[string]any{"train.input_noise": 0.1}), member(t, "b", map[string]any{"train.seed": 2, "train.input_noise": 0.2})}
	second := []Member{member(t, "c", map[string]any{"train.seed": 3, "regularizers.0.weight": 3, "train.input_noise": 0.1}),
		member(t, "d", map[string]any{"train.seed": 4, "optimizer.learning_rate": 0.003, "train.input_noise": 0.3})}
	sets := map[string]Data{"in memory": digits(t), "streamed": streamed(t, digits(t), true, 70, 90, 90, 120)}
	for name, b := range backends {
		for set, d := range sets {
			t.Run(name+"/"+set, func(t *testing.T) { trainerReuse(t, b, first, second, d) })
		}
	}
}

func trainerReuse(t *testing.T, b compute.Backend, first, second []Member, d Data) {
	t.Helper()
	tr := NewTrainer(b, Options{})
	defer tr.Close()
	if _, err := tr.Train(context.Background(), first, d, &History{}); err != nil {
		t.Fatal(err)
	}
	built := tr.last
	reused := &History{}
	if _, err := tr.Train(context.Background(), second, d, reused); err != nil {
		t.Fatal(err)
	}
	if tr.last != built {
		t.Fatal("the second group of the same structure was compiled again")
	}
	fresh := &History{}
	if _, err := Train(context.Background(), b, second, d, fresh); err != nil {
		t.Fatal(err)
	}
	for k := range second {
		for e, ep := range fresh.Epochs[k] {
			for j, m := range ep.Metrics {
				if got := reused.Epochs[k][e].Metrics[j].Value; got != m.Value {
					t.Errorf("model %d epoch %d %s/%s: reused %v, fresh %v", k, e+1, m.Split, m.Name, got, m.Value)
				}
			}
		}
	}
}

// GoMLX reports misuse while building a graph by panicking with an error: its message
// is enough. Any other panic is a bug of ours, and its stack is kept in the message.
func TestPanicsThatAreBugsKeepTheirStack(t *testing.T) {
	graphErr := panicError(errors.New("Where() requires the condition shape to be a prefix"))
	if strings.Contains(graphErr.Error(), "goroutine") || !strings.Contains(graphErr.Error(), "Where()") {
		t.Errorf("graph-building error: %v", graphErr)
	}
	var bug error
	func() {
		defer func() { bug = panicError(recover()) }()
		var s []int
		_ = s[len(s)+1] // index out of range: a runtime error
	}()
	if !strings.Contains(bug.Error(), "index out of range") || !strings.Contains(bug.Error(), "TestPanicsThatAreBugsKeepTheirStack") {
		t.Errorf("a runtime error must keep the stack that leads to it: %v", bug)
	}
}

// The keras convention divides the KL penalty by the batch size, as a Keras activity
// regularizer does; with the weights held still (learning rate ~0) the two
// conventions' validation penalties differ by exactly that factor, and training's by
// each batch's size.
func TestKerasKLConventionDividesByTheBatchSize(t *testing.T) {
	textbook := member(t, "t", map[string]any{"optimizer.learning_rate": 1e-12, "train.epochs": 1})
	keras := member(t, "k", map[string]any{"optimizer.learning_rate": 1e-12, "train.epochs": 1, "regularizers.0.convention": "keras"})
	if GroupKey(textbook.Spec) == GroupKey(keras.Spec) {
		t.Fatal("the convention changes the program: it must be part of the group key")
	}
	_, a := train(t, textbook)
	_, b := train(t, keras)
	const name = "penalty/kl_sparsity/encoder.0"
	va, vb := value(a.Epochs[0][0], "validation", name), value(b.Epochs[0][0], "validation", name)
	if math.Abs(va/32-vb) > 1e-12*va {
		t.Errorf("validation KL: textbook %v, keras %v; want textbook/32", va, vb)
	}
	ta, tb := value(a.Epochs[0][0], "train", name), value(b.Epochs[0][0], "train", name)
	if r := ta / tb; r < 28 || r > 32 { // 300 samples: 9 batches of 32 and one of 12
		t.Errorf("train KL ratio textbook/keras = %v, want about the batch size", r)
	}
}
