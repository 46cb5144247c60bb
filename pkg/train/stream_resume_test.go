package train

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/checkpoint"
)

// The streamed set of these tests: 300 rows in shards of 90, 90 and 120, chunks of 70
// rows (70, 70, 70, 70, 20), batches of 32: 3 + 3 + 3 + 3 + 1 = 13 steps an epoch,
// chunk boundaries after 3, 6, 9 and 12 of them.
func inEpochData(t *testing.T) Data { return streamed(t, digits(t), true, 70, 90, 90, 120) }

// withInEpochCheckpoints sets record.checkpoints.steps, which the spec allows only
// with dataset.buffer (these members' spec names digits; their data is streamed).
func withInEpochCheckpoints(m Member, steps int) Member {
	s := *m.Spec
	s.Record.Checkpoints.Steps = steps
	m.Spec = &s
	return m
}

// points lists model k's checkpoints inside an epoch, in order.
func (c *keeper) points(k int) [][2]int {
	out := slices.Collect(maps.Keys(c.inEpoch[k]))
	slices.SortFunc(out, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	return out
}

// resumedInsideMatches resumes members from their checkpoints at p (epochs complete,
// steps into the next) of the uninterrupted run full (outcomes want) and requires the
// epochs it trains, its checkpoints and its outcomes to equal the uninterrupted run's
// bit for bit.
func resumedInsideMatches(t *testing.T, b compute.Backend, members []Member, d Data, full *keeper, want []Outcome, p [2]int) {
	t.Helper()
	resumed := make([]Member, len(members))
	for k, m := range members {
		resumed[k] = m
		resumed[k].Resume = full.inEpoch[k][p]
		if resumed[k].Resume == nil {
			t.Fatalf("model %d has no checkpoint at %v", k, p)
		}
	}
	h := &keeper{}
	got, err := Train(context.Background(), b, resumed, d, h)
	if err != nil {
		t.Fatal(err)
	}
	after := p[0]
	for k := range members {
		if len(h.Epochs[k]) != len(full.Epochs[k])-after {
			t.Fatalf("resumed at %v: model %d trained %d epochs, want %d", p, k, len(h.Epochs[k]), len(full.Epochs[k])-after)
		}
		for i, e := range h.Epochs[k] {
			w, g := *full.Epochs[k][after+i], *e
			w.Elapsed, g.Elapsed = 0, 0
			if !reflect.DeepEqual(g, w) {
				t.Errorf("resumed at %v: model %d epoch %d differs from the uninterrupted run", p, k, e.Epoch)
			}
		}
		if !got[k].Resumed || got[k].ResumedFrom != after || got[k].Epochs != want[k].Epochs || got[k].Status != want[k].Status {
			t.Errorf("resumed at %v: outcome %+v", p, got[k])
		}
		if !reflect.DeepEqual(got[k].Weights, want[k].Weights) || !reflect.DeepEqual(got[k].Final, want[k].Final) {
			t.Errorf("resumed at %v: model %d's final weights or metrics differ", p, k)
		}
		for e, s := range h.states[k] {
			if w := full.states[k][e]; !reflect.DeepEqual(s.Vars, w.Vars) || !reflect.DeepEqual(s.Stream, w.Stream) {
				t.Errorf("resumed at %v: checkpoint after epoch %d differs", p, e)
			}
		}
		for q, s := range h.inEpoch[k] {
			w := full.inEpoch[k][q]
			if w == nil || !reflect.DeepEqual(s.Vars, w.Vars) || !reflect.DeepEqual(s.Stream, w.Stream) || !reflect.DeepEqual(s.Tally, w.Tally) {
				t.Errorf("resumed at %v: checkpoint at %v differs", p, q)
			}
		}
		if len(h.points(k)) == 0 && p != full.points(k)[len(full.points(k))-1] {
			t.Errorf("resumed at %v: wrote no checkpoint inside an epoch", p)
		}
	}
}

// With record.checkpoints.steps a streamed run also checkpoints inside each epoch, at
// the first chunk boundary after every N steps of it, with the epoch's running tally;
// resumed from any of them it trains the rest of that epoch and the next ones
// bit-identically to the uninterrupted run (metrics, units, activations, weights,
// outcomes, later checkpoints), for two models of a group (one with input noise).
func TestStreamedRunResumedInsideAnEpochTrainsBitIdenticallyToUninterrupted(t *testing.T) {
	d := inEpochData(t)
	for name, b := range backendsForTest(t) {
		t.Run("autoencoder/"+name, func(t *testing.T) {
			ov := map[string]any{"train.epochs": 2, "record.checkpoints.every": 1, "record.weights.every": 1,
				"optimizer.schedule.warmup_steps": 12}
			ov2 := maps.Clone(ov)
			ov2["train.seed"], ov2["train.input_noise"] = 2, 0.2
			members := []Member{withInEpochCheckpoints(member(t, "a", ov), 4), withInEpochCheckpoints(member(t, "b", ov2), 4)}
			full := &keeper{}
			want, err := Train(context.Background(), b, members, d, full)
			if err != nil {
				t.Fatal(err)
			}
			// Every 4 steps: the boundaries after 6 (past 4), 9 (past 8) and 12 (past 12).
			wantPoints := [][2]int{{0, 6}, {0, 9}, {0, 12}, {1, 6}, {1, 9}, {1, 12}}
			for k := range members {
				if got := full.points(k); !slices.Equal(got, wantPoints) {
					t.Fatalf("model %d checkpointed inside epochs at %v, want %v", k, got, wantPoints)
				}
			}
			if len(full.states[0]) != 1 {
				t.Errorf("%d checkpoints after epochs, want 1 (after epoch 1; never after the last)", len(full.states[0]))
			}
			for _, p := range wantPoints {
				s := full.inEpoch[0][p]
				if s.Stream == nil || s.Stream.Epoch != p[0]+1 || s.Tally == nil || len(s.Tally.Sums) == 0 || !s.Tally.Active || s.Tally.FailStep != -1 {
					t.Errorf("checkpoint at %v: stream %+v tally %+v", p, s.Stream, s.Tally)
				}
			}
			for _, p := range []([2]int){{0, 6}, {1, 9}} {
				resumedInsideMatches(t, b, members, d, full, want, p)
			}
		})
	}
	// A sparse autoencoder with AuxK: the host's switch to the aux program (deadSeen)
	// and the dead-latent counters carry over a checkpoint inside an epoch.
	t.Run("sae", func(t *testing.T) {
		b := saeBackend(t)
		ov := map[string]any{"train.epochs": 2, "record.checkpoints.every": 1, "model.sae.activation": "batchtopk",
			"model.sae.dead_after": 50, "model.sae.aux_coefficient": 0.03, "model.sae.normalize": "unit_mean_squared_norm",
			"train.batch_size": 25}
		ov2 := maps.Clone(ov)
		ov2["train.seed"] = 2
		members := []Member{withInEpochCheckpoints(saeMember(t, "a", ov), 5), withInEpochCheckpoints(saeMember(t, "b", ov2), 5)}
		full := &keeper{}
		want, err := Train(context.Background(), b, members, d, full)
		if err != nil {
			t.Fatal(err)
		}
		pts := full.points(0)
		if len(pts) < 4 {
			t.Fatalf("checkpoints inside epochs at %v, want several per epoch", pts)
		}
		aux := false
		for _, p := range pts {
			aux = aux || full.inEpoch[0][p].AuxNext
		}
		if !aux {
			t.Errorf("no checkpoint inside an epoch has AuxK on: the test does not cover it")
		}
		resumedInsideMatches(t, b, members, d, full, want, pts[1])
		resumedInsideMatches(t, b, members, d, full, want, pts[len(pts)-2])
	})
}

// interrupter cancels the training's context once epoch's step-th step is reported,
// and records every step reported after that.
type interrupter struct {
	keeper
	cancel      func()
	epoch, step int
	cancelled   bool
	after       [][2]int // (epoch, step) reported after the cancel
}

func (c *interrupter) Progress(epoch, step, steps int) {
	if c.cancelled {
		c.after = append(c.after, [2]int{epoch, step})
	}
	if epoch == c.epoch && step >= c.step && !c.cancelled {
		c.cancelled = true
		c.cancel()
	}
}

// SIGTERM (a cancelled context) inside an epoch of a streamed run stops it at the next
// chunk boundary, not at the epoch's end: the run ends interrupted with its epochs
// complete so far and a checkpoint at that boundary (record.checkpoints.steps 0: that
// is the only one inside an epoch), and resumed from it, it trains bit-identically to
// the uninterrupted run.
func TestInterruptedStreamedRunStopsAtTheNextChunkAndResumesBitIdentically(t *testing.T) {
	d := inEpochData(t)
	b, err := compute.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	ov := map[string]any{"train.epochs": 2, "record.checkpoints.every": 1, "record.weights.every": 1}
	ov2 := maps.Clone(ov)
	ov2["train.seed"], ov2["train.input_noise"] = 2, 0.2
	members := []Member{member(t, "a", ov), member(t, "b", ov2)}
	full := &keeper{}
	want, err := Train(context.Background(), b, members, d, full)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := &interrupter{cancel: cancel, epoch: 1, step: 4}
	got, err := Train(ctx, b, members, d, in)
	if err != nil {
		t.Fatal(err)
	}
	for k := range members {
		if got[k].Status != StatusInterrupted || got[k].Epochs != 0 || !strings.Contains(got[k].Message, "interrupted in epoch 1 of 2, after 6 of its 13 steps") {
			t.Errorf("model %d: outcome %+v, want interrupted in epoch 1 after 6 of 13 steps", k, got[k])
		}
		if pts := in.points(k); !slices.Equal(pts, [][2]int{{0, 6}}) {
			t.Errorf("model %d: checkpoints inside epochs at %v, want one, 6 steps into epoch 1", k, pts)
		}
		if len(in.Epochs) > k && len(in.Epochs[k]) != 0 {
			t.Errorf("model %d: %d epochs recorded, want none (epoch 1 unfinished)", k, len(in.Epochs[k]))
		}
	}
	for _, p := range in.after {
		if p[0] != 1 || p[1] > 6 {
			t.Errorf("step %d of epoch %d ran after the interrupt: it should stop at the chunk boundary after step 6", p[1], p[0])
		}
	}
	// Resumed from the interrupt's checkpoint, through the keeper's maps.
	resumed := &keeper{History: full.History, states: full.states, inEpoch: map[int]map[[2]int]*checkpoint.State{}}
	for k := range members {
		resumed.inEpoch[k] = map[[2]int]*checkpoint.State{{0, 6}: in.inEpoch[k][[2]int{0, 6}]}
	}
	resumedInsideMatches(t, b, members, d, resumed, want, [2]int{0, 6})
}
