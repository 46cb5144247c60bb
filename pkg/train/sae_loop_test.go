package train

import (
	"context"
	"reflect"
	"testing"
)

// callLog records the steps each call of the training program ran (Progress comes
// after each call), per epoch.
type callLog struct {
	History
	epoch, last int
	steps       [][]int // per epoch, the steps of each call
}

func (c *callLog) Progress(epoch, step, _ int) {
	if epoch != c.epoch {
		c.epoch, c.last = epoch, 0
		c.steps = append(c.steps, nil)
	}
	c.steps[len(c.steps)-1] = append(c.steps[len(c.steps)-1], step-c.last)
	c.last = step
}

func (c *callLog) calls() (n int) {
	for _, e := range c.steps {
		n += len(e)
	}
	return n
}

func trainLogged(t *testing.T, steps int, members ...Member) ([]Outcome, *callLog) {
	t.Helper()
	c := &callLog{}
	tr := NewTrainer(xlaOrSkip(t), Options{StepsPerCall: steps})
	defer tr.Close()
	out, err := tr.Train(context.Background(), members, digits(t), c)
	if err != nil {
		t.Fatal(err)
	}
	return out, c
}

// SAEs whose steps select (topk, batchtopk) with AuxK train to the same bits with one
// step per call, a whole epoch per call and 5 steps per call on XLA, the selection
// (sae.SortSelect, exact) inside the compiled loop. Latents die and revive within an
// epoch here (dead after 150 samples, 6 steps), so that calls end where the next step
// needs the other program (AuxK or not): the loop's runs are checked to end there.
func TestSAEStepsPerCallDoNotChangeTheResults(t *testing.T) {
	for _, act := range []string{"topk", "batchtopk"} {
		t.Run(act, func(t *testing.T) {
			ov := map[string]any{"model.sae.activation": act, "model.sae.dead_after": 150, "model.sae.aux_coefficient": 0.03,
				"train.batch_size": 25, "train.epochs": 3}
			a := saeMember(t, "a", ov)
			ov["train.seed"], ov["model.sae.k"] = 2, 6
			members := []Member{a, saeMember(t, "b", ov)}
			ref, one := trainLogged(t, 1, members...)
			steps := 3 * 12
			if one.calls() != steps {
				t.Fatalf("one step per call: %d calls for %d steps", one.calls(), steps)
			}
			for _, n := range []int{0, 5} {
				out, c := trainLogged(t, n, members...)
				t.Logf("%d steps per call: steps of each call per epoch %v", n, c.steps)
				if n == 0 && (c.calls() <= 3 || c.calls() >= steps) {
					t.Errorf("a whole epoch per call: %d calls for 3 epochs of 12 steps, want more than 3 (AuxK starting or stopping ends a call) and fewer than 36", c.calls())
				}
				for k := range members {
					if !reflect.DeepEqual(out[k].Weights, ref[k].Weights) {
						t.Errorf("%d steps per call: model %d's weights differ from one step per call's", n, k)
					}
					for e, ep := range one.Epochs[k] {
						if !reflect.DeepEqual(c.Epochs[k][e].Metrics, ep.Metrics) {
							t.Errorf("%d steps per call: model %d epoch %d: metrics\n%v\none step per call:\n%v", n, k, e+1, c.Epochs[k][e].Metrics, ep.Metrics)
						}
					}
				}
			}
		})
	}
}
