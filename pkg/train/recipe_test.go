package train

import (
	"context"
	"math"
	"testing"

	"github.com/sparselab/saerun/pkg/data"
)

// scheduleRate is the README's formula for the n-th step's learning rate, written
// out here independently of pkg/optim.
func scheduleRate(lr float64, warmup, decaySteps int, decay string, final float64, n int) float64 {
	if n < warmup {
		return lr * float64(n) / float64(warmup)
	}
	u := math.Min(1, float64(n-warmup)/float64(decaySteps))
	switch decay {
	case "linear":
		return lr + (final-lr)*u
	case "cosine":
		return final + (lr-final)*(1+math.Cos(math.Pi*u))/2
	}
	return lr
}

// The train learning_rate metric is the scheduled rate at each epoch's last step
// (300 samples in batches of 32: 10 steps an epoch), with a warm-up spanning the first
// epoch and a decay ending in the third; without a schedule it is the constant rate.
func TestLearningRateMetricFollowsTheScheduleOverEpochs(t *testing.T) {
	for _, decay := range []string{"cosine", "linear"} {
		m := member(t, "s", map[string]any{"train.epochs": 4, "optimizer.schedule.warmup_steps": 12,
			"optimizer.schedule.decay": decay, "optimizer.schedule.decay_steps": 15, "optimizer.schedule.final_learning_rate": 0.002})
		_, h := train(t, m)
		if len(h.Epochs[0]) != 4 {
			t.Fatalf("%s: %d epochs", decay, len(h.Epochs[0]))
		}
		for i, e := range h.Epochs[0] {
			want := scheduleRate(0.01, 12, 15, decay, 0.002, 10*(i+1))
			if got := value(e, "train", "learning_rate"); math.Abs(got-want) > 1e-15 {
				t.Errorf("%s epoch %d: learning_rate %v, want %v", decay, i+1, got, want)
			}
		}
	}
	_, h := train(t, member(t, "c", nil))
	for i, e := range h.Epochs[0] {
		if got := value(e, "train", "learning_rate"); got != 0.01 {
			t.Errorf("no schedule, epoch %d: learning_rate %v, want 0.01", i+1, got)
		}
	}
}

// The device applies the schedule: with the rate decayed linearly to 0 by the last
// step of the first epoch, the parameters never move again (epochs 2 and 3 end with
// epoch 1's weights), while without the schedule they do.
func TestParametersStopMovingOnceTheScheduleReachesZero(t *testing.T) {
	frozen := member(t, "f", map[string]any{"record.weights.every": 1, "optimizer.schedule.decay": "linear",
		"optimizer.schedule.decay_steps": 10, "optimizer.schedule.final_learning_rate": 0})
	_, h := train(t, frozen)
	first, last := h.Epochs[0][0].Weights, h.Epochs[0][2].Weights
	if len(first) == 0 || len(last) == 0 {
		t.Fatal("no weights recorded")
	}
	for l := range first {
		for i, v := range first[l].Kernel {
			if last[l].Kernel[i] != v {
				t.Fatalf("layer %s kernel[%d] moved after the rate reached 0: %v -> %v", first[l].Name, i, v, last[l].Kernel[i])
			}
		}
	}
	_, moving := train(t, member(t, "m", map[string]any{"record.weights.every": 1}))
	if moving.Epochs[0][0].Weights[0].Kernel[0] == moving.Epochs[0][2].Weights[0].Kernel[0] &&
		moving.Epochs[0][0].Weights[0].Kernel[1] == moving.Epochs[0][2].Weights[0].Kernel[1] {
		t.Error("without a schedule the weights did not move either: the check above proves nothing")
	}
}

// allWeights flattens a model's kernels and biases.
func allWeights(ws []LayerWeights) []float64 {
	var out []float64
	for _, w := range ws {
		for _, v := range w.Kernel {
			out = append(out, float64(v))
		}
		for _, v := range w.Bias {
			out = append(out, float64(v))
		}
	}
	return out
}

// With SGD (no momentum) and one step an epoch, clipping at c moves the parameters by
// exactly lr·c when the gradient's norm is above c (it is, at c = 1e-3); a bound far
// above the norm changes nothing, to the last bit.
func TestClippingBoundsTheUpdateNorm(t *testing.T) {
	const lr, c = 0.1, 1e-3
	o := map[string]any{"optimizer.name": "sgd", "optimizer.learning_rate": lr, "train.batch_size": 300,
		"train.epochs": 2, "record.weights.every": 1}
	clipped := map[string]any{"optimizer.clip_grad_norm": c}
	for k, v := range o {
		clipped[k] = v
	}
	_, h := train(t, member(t, "c", clipped))
	a, b := allWeights(h.Epochs[0][0].Weights), allWeights(h.Epochs[0][1].Weights)
	d := 0.0
	for i := range a {
		d += (b[i] - a[i]) * (b[i] - a[i])
	}
	if d = math.Sqrt(d); math.Abs(d-lr*c) > 0.02*lr*c {
		t.Errorf("one clipped SGD step moved the parameters by %v, want lr·c = %v", d, lr*c)
	}

	huge := map[string]any{"optimizer.clip_grad_norm": 1e30}
	for k, v := range o {
		huge[k] = v
	}
	_, loose := train(t, member(t, "h", huge))
	_, plain := train(t, member(t, "p", o))
	for e := range plain.Epochs[0] {
		for j, m := range plain.Epochs[0][e].Metrics {
			if got := loose.Epochs[0][e].Metrics[j].Value; got != m.Value {
				t.Errorf("epoch %d %s/%s: %v with a bound far above the norm, %v without clipping", e+1, m.Split, m.Name, got, m.Value)
			}
		}
	}
}

// A coefficient warm-up of W steps scales the first step's penalty by 1/W: with the
// whole training set in one batch, the first epoch's train metrics are the first
// step's forward pass, the same with and without the warm-up but for the factor.
func TestCoefficientWarmupScalesThePenalty(t *testing.T) {
	b := saeBackend(t)
	for _, c := range []struct{ activation, coefficient, warmup, metric string }{
		{"relu", "model.sae.l1_coefficient", "model.sae.l1_warmup_steps", "penalty/l1/encoder.0"},
		{"jumprelu", "model.sae.l0_coefficient", "model.sae.l0_warmup_steps", "penalty/l0/encoder.0"},
	} {
		o := map[string]any{"model.sae.activation": c.activation, "model.sae.k": nil, "model.sae.aux_coefficient": nil,
			c.coefficient: 0.5, "train.batch_size": 300, "train.epochs": 1}
		_, plain := trainOn(t, b, saeMember(t, "p", o))
		o[c.warmup] = 4
		_, warm := trainOn(t, b, saeMember(t, "w", o))
		p, w := finalValue(t, plain, 0, "train", c.metric), finalValue(t, warm, 0, "train", c.metric)
		if !(p > 0) || math.Abs(w/p-0.25) > 1e-6 {
			t.Errorf("%s: first-step penalty %v with a 4-step warm-up, %v without: ratio %v, want 0.25", c.activation, w, p, w/p)
		}
		if pr, wr := finalValue(t, plain, 0, "train", "reconstruction"), finalValue(t, warm, 0, "train", "reconstruction"); pr != wr {
			t.Errorf("%s: the first step's reconstruction differs with the warm-up: %v vs %v", c.activation, wr, pr)
		}
	}
}

// Models that differ in the schedule's numbers, clipping and the coefficient warm-ups
// share a group and train in it as they would alone.
func TestRecipeHyperparametersGroupedTrainAsAlone(t *testing.T) {
	sets := map[string][]Member{
		"cosine schedules and clipping": {
			member(t, "a", map[string]any{"optimizer.schedule.warmup_steps": 5, "optimizer.schedule.decay": "cosine",
				"optimizer.schedule.decay_steps": 20, "optimizer.schedule.final_learning_rate": 0.001, "optimizer.clip_grad_norm": 0.5}),
			member(t, "b", map[string]any{"optimizer.schedule.decay": "cosine", "optimizer.schedule.decay_steps": 30,
				"train.seed": 2}),
			member(t, "c", map[string]any{"optimizer.schedule.warmup_steps": 12, "optimizer.schedule.decay": "cosine",
				"optimizer.schedule.decay_steps": 8, "optimizer.clip_grad_norm": 2, "optimizer.learning_rate": 0.003}),
		},
		"warm-up on one, clipping on another": {
			member(t, "a", map[string]any{"optimizer.schedule.warmup_steps": 8}),
			member(t, "b", nil),
			member(t, "c", map[string]any{"optimizer.clip_grad_norm": 0.1, "train.seed": 3}),
		},
		"relu l1 warm-ups": {
			saeMember(t, "a", map[string]any{"model.sae.activation": "relu", "model.sae.k": nil, "model.sae.aux_coefficient": nil,
				"model.sae.l1_coefficient": 0.5, "model.sae.l1_warmup_steps": 5}),
			saeMember(t, "b", map[string]any{"model.sae.activation": "relu", "model.sae.k": nil, "model.sae.aux_coefficient": nil,
				"model.sae.l1_coefficient": 1, "optimizer.clip_grad_norm": 1, "train.seed": 2}),
		},
	}
	for name, members := range sets {
		for _, m := range members[1:] {
			if GroupKey(m.Spec) != GroupKey(members[0].Spec) {
				t.Fatalf("%s: run %s does not share the group", name, m.RunID)
			}
		}
		for bname, b := range backendsForTest(t) {
			t.Run(name+"/"+bname, func(t *testing.T) {
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

// The schedule's position is the step count, not the call: on XLA a whole epoch per
// call, 3 steps per call (running past the epoch's end) and one step per call give
// the same numbers to the last bit with a warm-up and a decay.
func TestScheduleDoesNotDependOnStepsPerCall(t *testing.T) {
	b := xlaOrSkip(t)
	members := []Member{member(t, "a", map[string]any{"optimizer.schedule.warmup_steps": 7, "optimizer.schedule.decay": "cosine",
		"optimizer.schedule.decay_steps": 11, "optimizer.clip_grad_norm": 0.3})}
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
		for e, ep := range runs[0].Epochs[0] {
			for j, m := range ep.Metrics {
				if got := h.Epochs[0][e].Metrics[j].Value; got != m.Value {
					t.Errorf("run %d epoch %d %s/%s: %v, whole epoch per call: %v", r+1, e+1, m.Split, m.Name, got, m.Value)
				}
			}
		}
	}
}

func TestGroupKeyIgnoresTheRecipeNumbersButNotTheDecay(t *testing.T) {
	a := member(t, "a", map[string]any{"optimizer.schedule.decay": "cosine", "optimizer.schedule.decay_steps": 10})
	b := member(t, "b", map[string]any{"optimizer.schedule.decay": "cosine", "optimizer.schedule.decay_steps": 99,
		"optimizer.schedule.warmup_steps": 3, "optimizer.schedule.final_learning_rate": 0.001, "optimizer.clip_grad_norm": 1})
	c := member(t, "c", map[string]any{"optimizer.schedule.decay": "linear", "optimizer.schedule.decay_steps": 10})
	if GroupKey(a.Spec) != GroupKey(b.Spec) {
		t.Error("runs differing only in the schedule's numbers and clipping must share a group")
	}
	if GroupKey(a.Spec) == GroupKey(c.Spec) {
		t.Error("runs with different decays must not share a group")
	}
}

// AuxK's coefficient means the same at any scale of the data: AuxK's share of the
// loss (its train penalty over the reconstruction loss) is the same on the digits and
// on the digits times 16 (an exact scaling in float32; b_dec starts at the mean, the
// parameters barely move at a learning rate of 1e-12, and most latents are dead after
// the first step at dead_after 1). Without the batch-variance factor it would differ
// by 256.
func TestAuxKShareOfTheLossDoesNotDependOnTheDataScale(t *testing.T) {
	b := saeBackend(t)
	m := saeMember(t, "a", map[string]any{"model.sae.dead_after": 1, "model.sae.latents": 64, "model.sae.k": 1,
		"model.sae.b_dec_init": "mean", "optimizer.learning_rate": 1e-12, "train.epochs": 1})
	share := func(c float32) float64 {
		d := digits(t)
		scale := func(s *data.Set) *data.Set {
			cp := *s
			cp.X = make([]float32, len(s.X))
			for i, v := range s.X {
				cp.X[i] = v * c
			}
			return &cp
		}
		h := &History{}
		if _, err := Train(context.Background(), b, []Member{m}, Data{Train: scale(d.Train), Validation: scale(d.Validation)}, h); err != nil {
			t.Fatal(err)
		}
		return finalValue(t, h, 0, "train", "penalty/auxk/encoder.0") / finalValue(t, h, 0, "train", "reconstruction")
	}
	one, sixteen := share(1), share(16)
	if !(one > 0) || math.Abs(sixteen/one-1) > 1e-4 {
		t.Errorf("AuxK penalty / reconstruction: %v on the data, %v on 16 × the data; want equal and > 0", one, sixteen)
	}
}
