package train

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/checkpoint"
)

// Checkpointer is an Observer that keeps checkpoints: after the epochs
// record.checkpoints.every says (and after the epoch a cancelled context stops at),
// the loop hands it every live member's state; a streamed run's also inside an
// epoch, at the chunk boundaries record.checkpoints.steps says and at the one a
// cancelled context stops at (State.Steps > 0). A Member's Resume is such a state.
// The state's variable data alias the training's own memory: they are valid during
// the call only (checkpoint.Write or Encode them; do not keep them).
type Checkpointer interface {
	Checkpoint(k int, s *checkpoint.State) error
}

// checkpointDue reports whether the loop checkpoints after epoch: every
// record.checkpoints.every epochs and when it stops early (interrupted), never after
// the last epoch (the run is then recorded whole) nor with every: 0.
func (gr *group) checkpointDue(epoch int, stopping bool) bool {
	every := gr.spec.Record.Checkpoints.Every
	if every <= 0 || epoch >= gr.spec.Train.Epochs {
		return false
	}
	return stopping || epoch%every == 0
}

// saveState gives member k's slice of every checkpoint variable, on the host. A
// variable whose leading axis is the group's K holds one row per member; a scalar (the
// optimizer's step) is the group's, equal for members at the same epoch. The caller
// sets ConfigHash and Journal, which training does not know.
//
// The data alias the variables' host copies (no second copy: an SAE's state is tens
// of MiB, a large one gigabytes), valid until dropHostCopies, which the loop calls
// once every member's checkpoint is written.
func (gr *group) saveState(k int, epoch int, elapsed float64, o Outcome) (*checkpoint.State, error) {
	K := len(gr.members)
	s := &checkpoint.State{RunID: gr.members[k].RunID, Epoch: epoch, Elapsed: elapsed, CompileSecs: o.CompileSecs, AuxNext: gr.deadSeen}
	for _, m := range o.Final {
		s.Final = append(s.Final, checkpoint.Metric{Split: m.Split, Name: m.Name, Value: m.Value})
	}
	for _, v := range gr.checkpointVariables() {
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		sh := t.Shape()
		var raw []byte
		if !t.IsLocal() && t.IsOnAnyDevice() {
			gr.hostCopies = append(gr.hostCopies, t) // made here: dropped after the checkpoints
		}
		if err := t.ConstBytes(func(b []byte) { raw = b }); err != nil {
			return nil, err
		}
		dims := sh.Dimensions
		if sh.Rank() > 0 {
			if dims[0] != K {
				return nil, fmt.Errorf("checkpoint: variable %s has shape %s, not one row per model of %d", v.Path(), sh, K)
			}
			row := len(raw) / K
			raw, dims = raw[k*row:(k+1)*row], dims[1:]
		}
		s.Vars = append(s.Vars, checkpoint.Var{Name: v.Path(), DType: sh.DType.String(), Dims: append([]int(nil), dims...), Data: raw[:len(raw):len(raw)]})
	}
	return s, nil
}

// dropHostCopies frees the host copies of the variables saveState made (they stay on
// the device).
func (gr *group) dropHostCopies() {
	for _, t := range gr.hostCopies {
		if t.Ok() && t.IsOnAnyDevice() {
			t.FinalizeLocal()
		}
	}
	gr.hostCopies = nil
}

// resumeAt is where a group resumes: after epoch epochs, and steps optimizer steps
// into the next (a checkpoint inside an epoch; 0: after the epoch).
type resumeAt struct{ epoch, steps int }

// restore sets the rows of the members that resume (Member.Resume) from their
// checkpoints; all of them resume at the same point, returned (the zero resumeAt:
// none resumes). Members that do not resume keep their initial values, so they must
// start at epoch 1 too: a group mixes them only when nothing resumes.
func (gr *group) restore() (resumeAt, error) {
	var at resumeAt
	for _, m := range gr.members {
		var p resumeAt
		if m.Resume != nil {
			p = resumeAt{m.Resume.Epoch, m.Resume.Steps}
		}
		if m != gr.members[0] && p != at {
			return resumeAt{}, fmt.Errorf("runs %s and %s resume at different points (epoch %d step %d, epoch %d step %d): they train in separate groups",
				gr.members[0].RunID, m.RunID, at.epoch, at.steps, p.epoch, p.steps)
		}
		at = p
	}
	if at == (resumeAt{}) {
		return at, nil
	}
	if at.steps > 0 && gr.data.Stream == nil {
		return resumeAt{}, fmt.Errorf("checkpoint of run %s was written %d steps into epoch %d, but the run's training set is held in memory (only a streamed set checkpoints inside an epoch)",
			gr.members[0].RunID, at.steps, at.epoch+1)
	}
	if err := gr.restoreVariables(); err != nil {
		return resumeAt{}, err
	}
	for _, m := range gr.members {
		gr.deadSeen = gr.deadSeen || m.Resume.AuxNext // an unneeded aux call changes nothing
	}
	return at, nil
}

// restoreVariables sets every checkpoint variable from the members' checkpoints.
func (gr *group) restoreVariables() error {
	K := len(gr.members)
	for _, v := range gr.checkpointVariables() {
		old, err := v.Value()
		if err != nil {
			return err
		}
		sh := old.Shape()
		t := tensors.FromShape(sh)
		err = t.MutableBytes(func(dst []byte) {
			row := len(dst)
			if sh.Rank() > 0 {
				row = len(dst) / K
			}
			for k, m := range gr.members {
				cv := m.Resume.Var(v.Path())
				want := sh.Dimensions
				if sh.Rank() > 0 {
					want = want[1:]
				}
				if cv == nil || cv.DType != sh.DType.String() || !slices.Equal(cv.Dims, want) || len(cv.Data) != row {
					err = fmt.Errorf("checkpoint of run %s: variable %s missing or not %s%v", m.RunID, v.Path(), sh.DType, want)
					return
				}
				if sh.Rank() == 0 {
					if k > 0 && string(cv.Data) != string(dst) {
						err = fmt.Errorf("checkpoint of run %s: group variable %s differs from run %s's", m.RunID, v.Path(), gr.members[0].RunID)
						return
					}
					copy(dst, cv.Data)
					continue
				}
				copy(dst[k*row:(k+1)*row], cv.Data)
			}
		})
		if err == nil {
			err = autoencoder.SetVariable(v, t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
