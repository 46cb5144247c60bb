package train

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/checkpoint"
)

// keeper is a History that keeps every checkpoint it is handed, by model and epoch
// (states: after an epoch) or by model and (epochs complete, steps into the next)
// (inEpoch: inside an epoch).
type keeper struct {
	History
	states  map[int]map[int]*checkpoint.State
	inEpoch map[int]map[[2]int]*checkpoint.State
}

func (c *keeper) Checkpoint(k int, s *checkpoint.State) error {
	if c.states == nil {
		c.states = map[int]map[int]*checkpoint.State{}
		c.inEpoch = map[int]map[[2]int]*checkpoint.State{}
	}
	if c.states[k] == nil {
		c.states[k] = map[int]*checkpoint.State{}
		c.inEpoch[k] = map[[2]int]*checkpoint.State{}
	}
	// Through the file format, as the runner does.
	b, err := checkpoint.Encode(s)
	if err != nil {
		return err
	}
	s, err = checkpoint.Decode("mem", b, s.RunID, s.ConfigHash)
	if err != nil {
		return err
	}
	if s.Steps > 0 {
		c.inEpoch[k][[2]int{s.Epoch, s.Steps}] = s
		return nil
	}
	c.states[k][s.Epoch] = s
	return nil
}

// resumeMatchesUninterrupted trains members uninterrupted, then again from each
// checkpoint epoch, and requires every later epoch's metrics, units, activations,
// images and weights, and the outcome's weights, to equal the uninterrupted run's bit
// for bit.
func resumeMatchesUninterrupted(t *testing.T, b compute.Backend, members []Member) {
	t.Helper()
	resumeMatchesUninterruptedOn(t, b, members, digits(t))
}

// resumeMatchesUninterruptedOn is resumeMatchesUninterrupted on the data d.
func resumeMatchesUninterruptedOn(t *testing.T, b compute.Backend, members []Member, d Data) {
	t.Helper()
	full := &keeper{}
	want, err := Train(context.Background(), b, members, d, full)
	if err != nil {
		t.Fatal(err)
	}
	epochs := members[0].Spec.Train.Epochs
	if len(full.states[0]) != epochs-1 {
		t.Fatalf("%d checkpoints of %d epochs (every: 1 leaves out only the last)", len(full.states[0]), epochs)
	}
	for after := 1; after < epochs; after++ {
		resumed := make([]Member, len(members))
		for k, m := range members {
			resumed[k] = m
			resumed[k].Resume = full.states[k][after]
		}
		h := &keeper{}
		got, err := Train(context.Background(), b, resumed, d, h)
		if err != nil {
			t.Fatal(err)
		}
		for k := range members {
			if len(h.Epochs[k]) != epochs-after {
				t.Fatalf("resumed after %d: model %d trained %d epochs", after, k, len(h.Epochs[k]))
			}
			for i, e := range h.Epochs[k] {
				w := *full.Epochs[k][after+i]
				g := *e
				w.Elapsed, g.Elapsed = 0, 0
				if !reflect.DeepEqual(g, w) {
					t.Errorf("resumed after epoch %d: model %d epoch %d differs from the uninterrupted run", after, k, e.Epoch)
				}
			}
			if got[k].ResumedFrom != after || got[k].Epochs != want[k].Epochs || got[k].Status != want[k].Status {
				t.Errorf("resumed after %d: outcome %+v", after, got[k])
			}
			if !reflect.DeepEqual(got[k].Weights, want[k].Weights) || !reflect.DeepEqual(got[k].Final, want[k].Final) {
				t.Errorf("resumed after %d: model %d's final weights or metrics differ", after, k)
			}
			for e, s := range h.states[k] { // a resumed run's checkpoints are the same state
				if !reflect.DeepEqual(s.Vars, full.states[k][e].Vars) || !reflect.DeepEqual(s.Stream, full.states[k][e].Stream) {
					t.Errorf("resumed after %d: checkpoint of epoch %d differs", after, e)
				}
			}
		}
	}
}

func TestResumedFromACheckpointTrainsBitIdenticallyToUninterrupted(t *testing.T) {
	for name, b := range backendsForTest(t) {
		t.Run("autoencoder/"+name, func(t *testing.T) {
			// An LR schedule (warm-up, cosine decay) counts steps over the epochs.
			ov := map[string]any{"train.epochs": 4, "record.checkpoints.every": 1, "record.weights.every": 1,
				"optimizer.schedule.warmup_steps": 12, "optimizer.schedule.decay": "cosine", "optimizer.schedule.decay_steps": 20}
			a := member(t, "a", ov)
			ov2 := maps.Clone(ov)
			ov2["train.seed"], ov2["train.input_noise"] = 2, 0.2
			resumeMatchesUninterrupted(t, b, []Member{a, member(t, "b", ov2)})
		})
		for _, act := range []string{"batchtopk", "jumprelu"} {
			t.Run(act+"/"+name, func(t *testing.T) {
				ov := map[string]any{"train.epochs": 4, "record.checkpoints.every": 1, "model.sae.activation": act, "model.sae.dead_after": 200,
					"model.sae.aux_coefficient": 0.03}
				if act == "jumprelu" {
					ov["model.sae.k"], ov["model.sae.aux_coefficient"], ov["model.sae.l0_coefficient"] = nil, nil, 0.05
					ov["model.sae.normalize"], ov["train.batch_size"] = "unit_mean_squared_norm", 25
					ov["model.sae.l0_warmup_steps"] = 30
				}
				a := saeMember(t, "a", ov)
				ov2 := map[string]any{}
				for k, v := range ov {
					ov2[k] = v
				}
				ov2["train.seed"] = 2
				resumeMatchesUninterrupted(t, b, []Member{a, saeMember(t, "b", ov2)})
			})
		}
	}
}

// Members resuming after different epochs cannot share a group: the loop refuses it
// (the runner trains them in separate groups).
func TestMembersResumingAfterDifferentEpochsAreRefusedInOneGroup(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	ov := map[string]any{"train.epochs": 3, "record.checkpoints.every": 1}
	members := []Member{member(t, "a", ov), member(t, "b", ov)}
	full := &keeper{}
	if _, err := Train(context.Background(), b, members, digits(t), full); err != nil {
		t.Fatal(err)
	}
	members[0].Resume = full.states[0][1]
	members[1].Resume = full.states[1][2]
	_, err = Train(context.Background(), b, members, digits(t), &keeper{})
	if err == nil || !strings.Contains(err.Error(), "resume at different points (epoch 1 step 0, epoch 2 step 0)") {
		t.Fatalf("got %v", err)
	}
	members[1].Resume = nil
	_, err = Train(context.Background(), b, members, digits(t), &keeper{})
	if err == nil || !strings.Contains(err.Error(), "resume at different points") {
		t.Fatalf("a fresh member beside a resumed one: got %v", err)
	}
}

// A streamed run checkpoints the stream's position and each model's row-order
// generator: resumed after any epoch it reads and draws what the uninterrupted run
// did, so every later epoch is bit-identical (several chunks per epoch, the last one
// short, shuffled shards).
func TestStreamedRunResumedFromACheckpointTrainsBitIdenticallyToUninterrupted(t *testing.T) {
	for name, b := range backendsForTest(t) {
		t.Run("autoencoder/"+name, func(t *testing.T) {
			ov := map[string]any{"train.epochs": 4, "record.checkpoints.every": 1, "record.weights.every": 1,
				"optimizer.schedule.warmup_steps": 12}
			ov2 := maps.Clone(ov)
			ov2["train.seed"], ov2["train.input_noise"] = 2, 0.2
			d := streamed(t, digits(t), true, 70, 90, 90, 120) // chunks of 70, 70, 70, 70, 20
			resumeMatchesUninterruptedOn(t, b, []Member{member(t, "a", ov), member(t, "b", ov2)}, d)
			full := &keeper{}
			if _, err := Train(context.Background(), b, []Member{member(t, "a", ov)}, d, full); err != nil {
				t.Fatal(err)
			}
			for e, s := range full.states[0] {
				if s.Stream == nil || s.Stream.Epoch != e+1 || s.Stream.Shard != 0 || s.Stream.Offset != 0 || s.Stream.Rows != 300 ||
					s.Stream.Shards != 3 || len(s.Stream.Order) == 0 {
					t.Errorf("checkpoint after epoch %d: stream %+v, want the start of epoch %d of 300 rows in 3 shards", e, s.Stream, e+1)
				}
			}
		})
	}
	t.Run("sae", func(t *testing.T) {
		b := saeBackend(t)
		ov := map[string]any{"train.epochs": 3, "record.checkpoints.every": 1, "model.sae.activation": "batchtopk",
			"model.sae.dead_after": 200, "model.sae.aux_coefficient": 0.03, "model.sae.normalize": "unit_mean_squared_norm",
			"train.batch_size": 25}
		ov2 := maps.Clone(ov)
		ov2["train.seed"] = 2
		d := streamed(t, digits(t), true, 70, 90, 90, 120)
		resumeMatchesUninterruptedOn(t, b, []Member{saeMember(t, "a", ov), saeMember(t, "b", ov2)}, d)
	})
}

// A checkpoint of a streamed run is refused by name on data that changed (another row
// count or shard count) and when it holds no stream position.
func TestStreamedResumeRefusesACheckpointOfOtherDataOrWithoutPosition(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	ov := map[string]any{"train.epochs": 3, "record.checkpoints.every": 1}
	d := streamed(t, digits(t), true, 70, 90, 90, 120)
	full := &keeper{}
	if _, err := Train(context.Background(), b, []Member{member(t, "a", ov)}, d, full); err != nil {
		t.Fatal(err)
	}
	other := streamed(t, digits(t), true, 70, 150, 150)
	m := member(t, "a", ov)
	m.Resume = full.states[0][1]
	if _, err := Train(context.Background(), b, []Member{m}, other, &keeper{}); err == nil || !strings.Contains(err.Error(), "300 rows in 3 shards") ||
		!strings.Contains(err.Error(), "300 rows in 2 shards") || !strings.Contains(err.Error(), "the data changed") {
		t.Errorf("other shards: err = %v", err)
	}
	st := *full.states[0][1]
	st.Stream = nil
	m.Resume = &st
	if _, err := Train(context.Background(), b, []Member{m}, d, &keeper{}); err == nil || !strings.Contains(err.Error(), "holds no stream position") {
		t.Errorf("no position: err = %v", err)
	}
}
