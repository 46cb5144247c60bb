package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/optim"
)

// run is the host loop: per epoch it draws each model's data order, runs the training
// program over the epoch's steps, reads the epoch's tally, validates, records, and
// hands every live model's epoch to obs.
func (gr *group) run(ctx context.Context, obs Observer) ([]Outcome, error) {
	s := gr.spec
	K := len(gr.members)
	N := gr.data.Train.N
	B := min(s.Train.BatchSize, N)
	var (
		indices <-chan *tensors.Tensor
		stop    func()
		chunks  *chunkFeed
	)
	at, err := gr.restore()
	if err != nil {
		return nil, err
	}
	resumed := at.epoch // epochs complete; at.steps of the next run (a streamed set's)
	if err := gr.uploadVariables(); err != nil {
		return nil, err
	}
	if gr.data.Stream != nil { // streamed: the epoch's rows come a chunk at a time (stream.go)
		if chunks, err = gr.openChunks(B); err != nil {
			return nil, err
		}
		defer chunks.close()
		N = gr.data.Stream.Rows()
		gr.releaseMemory() // what setting the group up left (initial values, the sample's copies)
	} else {
		indices, stop = gr.drawOrders(B, resumed)
		defer stop()
	}
	outcomes := make([]Outcome, K)
	active := make([]bool, K)
	start := time.Now()
	for k, m := range gr.members {
		active[k] = true
		outcomes[k].Status = StatusCompleted
		if r := m.Resume; r != nil {
			outcomes[k].Epochs, outcomes[k].ResumedFrom, outcomes[k].CompileSecs = r.Epoch, r.Epoch, r.CompileSecs
			for _, f := range r.Final {
				outcomes[k].Final = append(outcomes[k].Final, Metric{Split: f.Split, Name: f.Name, Value: f.Value})
			}
			outcomes[k].Resumed = true
			start = time.Now().Add(-time.Duration(r.Elapsed * float64(time.Second)))
		}
	}
	z := gr.model.prior()
	defer freeAll(z)
	trainNames := gr.metricNames()
	ckpt, _ := obs.(Checkpointer)

	var lastWeights [][]LayerWeights
	for epoch := resumed + 1; epoch <= s.Train.Epochs; epoch++ {
		lastWeights = nil
		var t epochTally
		var err error
		if chunks != nil {
			var from *resumeAt // the epoch resumed inside, if this is it
			if epoch == resumed+1 && at.steps > 0 {
				from = &at
			}
			save := func(done int, tally []*tensors.Tensor, firstCall float64) error { // a checkpoint inside the epoch
				if epoch == 1 && from == nil { // the run's first epoch: its first call's compilation
					for k := range outcomes {
						outcomes[k].CompileSecs = firstCall
					}
				}
				if ckpt == nil || s.Record.Checkpoints.Every <= 0 {
					return nil
				}
				return gr.checkpointInEpoch(ckpt, chunks, epoch, done, tally, time.Since(start).Seconds(), active, outcomes)
			}
			var stopped bool
			t, stopped, err = gr.trainStreamEpoch(ctx, epoch, chunks, active, from, save, obs)
			if err == nil && stopped { // interrupted inside the epoch: it stays unfinished, its checkpoint written
				gr.releaseMemory()
				for k := range outcomes {
					if active[k] {
						outcomes[k].Status = StatusInterrupted
						outcomes[k].Message = fmt.Sprintf("interrupted in epoch %d of %d, after %d of its %d steps", epoch, s.Train.Epochs, t.steps, t.epochSteps)
					}
				}
				break
			}
		} else {
			idx := <-indices
			t, err = gr.trainEpoch(epoch, idx, active, obs)
			idx.FinalizeAll()
		}
		if err != nil {
			return nil, err
		}
		if epoch == s.Train.Epochs && gr.release {
			gr.dropTrainingState(chunks)
		}
		gr.releaseMemory() // the training temporaries, before validation's
		for k := range gr.members {
			if active[k] && !t.active[k] {
				active[k] = false
				outcomes[k].Status, outcomes[k].DivergedAt = StatusDiverged, epoch
				outcomes[k].Message = fmt.Sprintf("loss became %v in epoch %d, batch %d", t.failLoss[k], epoch, t.failStep[k])
			}
		}
		if epoch == resumed+1 && resumed == 0 && at.steps == 0 {
			for k := range outcomes {
				outcomes[k].CompileSecs = t.firstCall
			}
		}
		if !anyTrue(active) {
			break
		}
		sums, err := gr.evaluate(epoch)
		if err != nil {
			return nil, err
		}
		gr.releaseMemory() // validation's (and its first compilation's), before recording's
		d := gr.dueAt(epoch)
		results := make([]*Epoch, K)
		for k := range results {
			results[k] = &Epoch{}
		}
		if err := gr.record(epoch, d, z, results); err != nil {
			return nil, err
		}
		gr.releaseMemory() // recording's, before the weights are read and written
		if d.weights {
			w, err := gr.weights()
			if err != nil {
				return nil, err
			}
			for k := range results {
				results[k].Weights = w[k]
			}
			lastWeights = w // the run's final weights, if no epoch trains after this one
		}
		own, err := gr.model.epochMetrics()
		if err != nil {
			return nil, err
		}
		stepsDone, err := gr.stepsDone() // the epoch's last step is step number stepsDone
		if err != nil {
			return nil, err
		}
		elapsed := time.Since(start).Seconds()
		M := len(trainNames)
		for k := range gr.members {
			if !active[k] {
				continue
			}
			e := results[k]
			e.Epoch, e.Elapsed = epoch, elapsed
			for m, name := range trainNames {
				e.Metrics = append(e.Metrics, Metric{Split: "train", Name: name, Value: t.sums[k*M+m] / float64(N)})
			}
			o := gr.members[k].Spec.Optimizer
			e.Metrics = append(e.Metrics, Metric{Split: "train", Name: "learning_rate", Value: optim.LearningRate(o.LearningRate, o.Schedule, stepsDone)})
			if own != nil {
				e.Metrics = append(e.Metrics, own[k]...)
			}
			val, units := gr.validationMetrics(k, sums, d.units)
			e.Metrics, e.Units = append(e.Metrics, val...), units
			// Only training that stops being finite diverges: an undefined validation
			// metric (NaN: fvu on zero-variance data, mape on all-zero data) is recorded
			// as such (null in the runs table) and the run goes on.
			if !trainingFinite(e.Metrics) {
				active[k] = false
				outcomes[k].Status, outcomes[k].DivergedAt = StatusDiverged, epoch
				outcomes[k].Message = fmt.Sprintf("training metrics not finite in epoch %d", epoch)
				continue
			}
			if err := obs.Epoch(k, e); err != nil {
				return nil, err
			}
			outcomes[k].Epochs, outcomes[k].Final = epoch, e.Metrics
		}
		if ckpt != nil && gr.checkpointDue(epoch, ctx.Err() != nil) {
			if err := gr.checkpoint(ckpt, chunks, epoch, elapsed, active, outcomes); err != nil {
				return nil, err
			}
		}
		gr.releaseMemory() // validation's and recording's temporaries, the checkpoint's copies
		if ctx.Err() != nil && epoch < s.Train.Epochs {
			for k := range outcomes {
				if active[k] {
					outcomes[k].Status = StatusInterrupted
					outcomes[k].Message = fmt.Sprintf("interrupted after epoch %d of %d", epoch, s.Train.Epochs)
				}
			}
			break
		}
	}
	weights := lastWeights // recorded after the last epoch trained: no second copy
	if weights == nil {
		if weights, err = gr.weights(); err != nil {
			return nil, err
		}
	}
	for k := range outcomes {
		outcomes[k].Weights, outcomes[k].InputScale = weights[k], gr.model.inputScale()
	}
	return outcomes, nil
}

// dropTrainingState frees, after the last epoch's training of a bounded run, what only
// training needs: the stream's chunks and the optimizer's state (a checkpoint never
// follows the last epoch; load gives the next members new state). The last epoch's
// validation and recording then run beside less.
func (gr *group) dropTrainingState(chunks *chunkFeed) {
	if chunks != nil {
		chunks.close()
	}
	for _, v := range gr.opt.State() {
		if t, err := v.Value(); err == nil {
			t.FinalizeAll()
		}
	}
}

// checkpoint hands every live member's state after epoch to ckpt.
func (gr *group) checkpoint(ckpt Checkpointer, chunks *chunkFeed, epoch int, elapsed float64, active []bool, outcomes []Outcome) error {
	return gr.checkpointAt(ckpt, chunks, epoch, 0, nil, elapsed, active, outcomes)
}

// checkpointInEpoch hands every member live at the start of epoch its state done
// steps into the epoch (a streamed set's, at a chunk boundary): the variables, the
// stream's position and row orders, and the epoch's tally so far, read from the
// device (where training carries it on).
func (gr *group) checkpointInEpoch(ckpt Checkpointer, chunks *chunkFeed, epoch, done int, tally []*tensors.Tensor, elapsed float64, active []bool, outcomes []Outcome) error {
	return gr.checkpointAt(ckpt, chunks, epoch-1, done, tally, elapsed, active, outcomes)
}

// checkpointAt hands ckpt every live member's state after epoch and done steps of the
// next one, with that epoch's tally so far (done > 0), and the stream's state (chunks).
func (gr *group) checkpointAt(ckpt Checkpointer, chunks *chunkFeed, epoch, done int, tally []*tensors.Tensor, elapsed float64, active []bool, outcomes []Outcome) error {
	defer gr.dropHostCopies()
	var t epochTally
	if done > 0 {
		if err := t.peek(tally); err != nil {
			return err
		}
	}
	M := len(gr.metricNames())
	for k := range gr.members {
		if !active[k] {
			continue
		}
		st, err := gr.saveState(k, epoch, elapsed, outcomes[k])
		if err == nil && done > 0 {
			st.Steps = done
			st.Tally = &checkpoint.Tally{Sums: t.sums[k*M : (k+1)*M : (k+1)*M], Active: t.active[k], FailStep: t.failStep[k], FailLoss: t.failLoss[k]}
		}
		if err == nil && chunks != nil {
			err = chunks.saveStream(k, gr.data.Stream, st)
		}
		if err == nil {
			err = ckpt.Checkpoint(k, st)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// drawOrders draws the epochs' batch indices one epoch ahead, while the device trains
// (64 models' permutations of 60,000 rows take tens of milliseconds): each model's
// order comes from its own generator, seeded by its seed, so the numbers do not
// depend on the timing. stop ends the drawing and frees what was drawn ahead.
//
// A group resumed after epoch `after` draws (and drops) the orders of the epochs done,
// so that each model's data-order position is where the uninterrupted run had it.
func (gr *group) drawOrders(B, after int) (<-chan *tensors.Tensor, func()) {
	orders := make([]*rand.Rand, len(gr.members))
	for k, m := range gr.members {
		orders[k] = rand.New(rand.NewPCG(uint64(m.Spec.Train.Seed), 0xda7a0de5))
		for range after {
			orders[k].Perm(gr.data.Train.N)
		}
	}
	out, done := make(chan *tensors.Tensor, 1), make(chan struct{})
	go func() {
		defer close(out)
		for epoch := after + 1; epoch <= gr.spec.Train.Epochs; epoch++ {
			select {
			case out <- gr.epochIndices(orders, gr.data.Train.N, B):
			case <-done:
				return
			}
		}
	}()
	return out, func() {
		close(done)
		for t := range out {
			t.FinalizeAll()
		}
	}
}

// epochIndices draws each model's permutation of the N training rows on the device
// (the set, or a streamed chunk) and lays the batches out as idx [batches, K, B]; the
// last batch, when short, is padded with row 0 (masked out by the step).
func (gr *group) epochIndices(orders []*rand.Rand, N, B int) *tensors.Tensor {
	K, batches := len(orders), (N+B-1)/B
	idx := make([]int32, batches*K*B)
	for k, o := range orders {
		for pos, i := range o.Perm(N) {
			b, r := pos/B, pos%B
			idx[(b*K+k)*B+r] = int32(i)
		}
	}
	return tensors.FromFlatDataAndDimensions(idx, batches, K, B)
}

// epochTally is an epoch's training tally on the host.
type epochTally struct {
	sums      []float64 // [K×M]
	active    []bool
	failStep  []int32
	failLoss  []float32
	firstCall float64 // seconds of the epoch's first call (with compilation in epoch 1)
	// steps of the epoch's epochSteps were run (a streamed epoch stopped inside: fewer)
	steps, epochSteps int
}

// trainEpoch runs the epoch's steps, stepsPerCall per call, and reads the tally back
// once at the end. Models not active at the start stay frozen.
func (gr *group) trainEpoch(epoch int, idx *tensors.Tensor, active []bool, obs Observer) (epochTally, error) {
	tally := gr.newTally(active)
	var out epochTally
	tally, err := gr.trainSteps(epoch, idx, tally, 0, gr.batches, &out, obs)
	if err != nil {
		return out, err
	}
	out.read(tally)
	return out, nil
}

// newTally is an epoch's tally before its first step.
func (gr *group) newTally(active []bool) []*tensors.Tensor {
	K, M := len(gr.members), len(gr.metricNames())
	fail := make([]int32, K)
	for k := range fail {
		fail[k] = -1
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(make([]float64, K*M), K, M),
		tensors.FromValue(append([]bool(nil), active...)),
		tensors.FromValue(fail),
		tensors.FromValue(make([]float32, K)),
	}
}

// read copies the tally back to the host (and frees it).
func (out *epochTally) read(tally []*tensors.Tensor) {
	out.sums = copyAndFree[float64](tally[0])
	out.active = copyAndFree[bool](tally[1])
	out.failStep = copyAndFree[int32](tally[2])
	out.failLoss = copyAndFree[float32](tally[3])
}

// peek copies the tally to the host and leaves it on the device, where training
// carries it on (a host copy it had to make is freed after).
func (out *epochTally) peek(tally []*tensors.Tensor) error {
	var err error
	copyOf := func(t *tensors.Tensor, fn func(*tensors.Tensor)) {
		made := !t.IsLocal() && t.IsOnAnyDevice()
		fn(t)
		if made {
			t.FinalizeLocal()
		}
	}
	copyOf(tally[0], func(t *tensors.Tensor) { out.sums, err = tensors.CopyFlatData[float64](t) })
	if err == nil {
		copyOf(tally[1], func(t *tensors.Tensor) { out.active, err = tensors.CopyFlatData[bool](t) })
	}
	if err == nil {
		copyOf(tally[2], func(t *tensors.Tensor) { out.failStep, err = tensors.CopyFlatData[int32](t) })
	}
	if err == nil {
		copyOf(tally[3], func(t *tensors.Tensor) { out.failLoss, err = tensors.CopyFlatData[float32](t) })
	}
	return err
}

// trainSteps runs the gr.batches steps of idx on gr.xTrain, at most stepsPerCall per
// call, carrying tally; done of steps of the epoch were run before (Progress counts on
// from there). out.firstCall is set by the epoch's first call. A model with an aux
// program (an SAE's AuxK) runs, per call, the program the last call asked for, which
// ends where a step needs the other one and says how many steps it ran.
func (gr *group) trainSteps(epoch int, idx *tensors.Tensor, tally []*tensors.Tensor, done, steps int, out *epochTally, obs Observer) ([]*tensors.Tensor, error) {
	for start := 0; start < gr.batches; {
		t0 := time.Now()
		exec := gr.trainExec
		if gr.deadSeen {
			exec = gr.trainExecAux
		}
		next, err := exec.Exec(gr.xTrain, idx, int32(start), gr.hp, int32(done), tally[0], tally[1], tally[2], tally[3])
		freeAll(tally...)
		if err != nil {
			return nil, fmt.Errorf("training (epoch %d, step %d): %w", epoch, done+start, err)
		}
		ran := gr.stepsPerCall
		if gr.trainExecAux != nil { // an SAE with AuxK: does the next step need it?
			gr.deadSeen = copyAndFree[bool](next[4])[0]
			ran = int(copyAndFree[int32](next[5])[0])
			next = next[:4]
			if ran < 1 { // the program runs at least one step (repeatWhile): a bug
				freeAll(next...)
				return nil, fmt.Errorf("training (epoch %d, step %d): a call ran %d steps", epoch, done+start, ran)
			}
		}
		tally = next
		if done+start == 0 {
			out.firstCall = time.Since(t0).Seconds()
		}
		if key := [2]int{gr.xTrain.Shape().Dimensions[0], btoi(exec == gr.trainExecAux)}; !gr.compiled[key] {
			gr.compiled[key] = true
			gr.releaseMemory() // the compilation's
		}
		start = min(start+ran, gr.batches)
		obs.Progress(epoch, done+start, steps)
	}
	return tally, nil
}

// releaseMemory hands the memory freed so far back to the system, in a run that
// bounds its memory (group.release).
func (gr *group) releaseMemory() {
	if gr.release {
		backend.ReleaseMemory()
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func anyTrue(v []bool) bool {
	for _, b := range v {
		if b {
			return true
		}
	}
	return false
}
