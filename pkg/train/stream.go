package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
)

// A streamed training set (data.Splits.Stream: dataset.buffer) reaches the device a
// chunk at a time. The stream reads each chunk straight into one of two tensors of
// [ChunkRows, D] that the backend shares with the host where it can (the CPU
// backends: XLA's CPU client and the go backend), so the read is the upload: the next
// chunk is read from disk, converted and shuffled in the background while the current
// one trains, and nothing else holds the rows. On a backend without shared buffers
// (a GPU) the tensors are host memory, copied to the device when their chunk trains.
// An epoch's last chunk, when shorter, is copied into a third tensor of its own shape
// (the step count and the short last batch are constants of the training program, so
// it compiles its own program once). Memory: those three chunks, which is what
// dataset.buffer sizes, and the sample of the rows (data.Dataset.Train).
//
// Each model draws its own order of a chunk's rows (from its seed, as it draws its
// order of a whole set); the stream's shard order and in-chunk shuffle are shared by
// the group (drawn from dataset.split_seed). The epoch's tally runs on across its
// chunks, so the metrics are those of the whole epoch.
//
// A checkpoint holds the stream's position (after an epoch: the next epoch's start;
// inside one: the next chunk's) and each model's row-order generator, so a resumed run
// reads and draws what the uninterrupted run would have. Inside an epoch (at a chunk
// boundary: record.checkpoints.steps, or an interrupt) it also holds the epoch's
// running tally and the steps run (checkpointInEpoch), and the epoch resumes there.

// chunkFeed is a run's chunks, read ahead, and each model's row-order generator.
type chunkFeed struct {
	r      *data.Reader
	pcgs   []*rand.PCG // each model's row-order generator, whose state a checkpoint keeps
	orders []*rand.Rand
	B      int
	next   data.Position     // where the chunk after the last one taken starts
	full   []*tensors.Tensor // the reader's buffers, as [ChunkRows, D] tensors
	shared bool              // the backend shares full's memory (no upload)
	short  *tensors.Tensor   // an epoch's last, shorter chunk
}

// openChunks starts reading the stream at the position the members resume from
// (their checkpoints', all equal) or at the start, to the last epoch.
func (gr *group) openChunks(B int) (*chunkFeed, error) {
	st := gr.data.Stream
	if err := CheckStream(gr.spec, gr.data); err != nil {
		return nil, err
	}
	f := &chunkFeed{B: B, next: data.Position{Epoch: 1}, shared: gr.backend.HasSharedBuffers()}
	for k, m := range gr.members {
		pcg := rand.NewPCG(uint64(m.Spec.Train.Seed), 0xda7a0de5)
		if r := m.Resume; r != nil {
			s, err := resumeStream(r, st)
			if err != nil {
				return nil, err
			}
			if k > 0 && s.pos != f.next {
				return nil, fmt.Errorf("checkpoints of runs %s and %s stand at different stream positions (%+v, %+v)", gr.members[0].RunID, m.RunID, f.next, s.pos)
			}
			f.next = s.pos
			if err := pcg.UnmarshalBinary(s.order); err != nil {
				return nil, fmt.Errorf("checkpoint of run %s: the row order's generator: %w", m.RunID, err)
			}
		}
		f.pcgs = append(f.pcgs, pcg)
		f.orders = append(f.orders, rand.New(pcg))
	}
	bufs := make([][]float32, 2)
	for i := range bufs {
		t, err := tensors.FromShapeForBackend(gr.backend, 0, shapes.Make(dtypes.Float32, st.ChunkRows(), st.Dim()))
		if err != nil {
			f.close()
			return nil, err
		}
		f.full = append(f.full, t)
		bufs[i] = hostView(t)
	}
	r, err := st.ReadInto(f.next, gr.spec.Train.Epochs, bufs)
	if err != nil {
		f.close()
		return nil, err
	}
	f.r = r
	return f, nil
}

// hostView is the host memory of t's values: the backend's own memory for a shared
// tensor, else its local copy. It stays valid until t is finalized.
func hostView(t *tensors.Tensor) []float32 {
	var flat []float32
	tensors.MustMutableFlatData(t, func(x []float32) { flat = x })
	return flat
}

// close stops the reading and frees the chunks' tensors (the reader first: it writes
// into them).
func (f *chunkFeed) close() {
	if f.r != nil {
		f.r.Close()
	}
	freeAll(f.full...)
	freeAll(f.short)
}

// take returns the next chunk as x [N, D], with scale applied (NaN or 1: none); x
// stays valid until the next take.
func (f *chunkFeed) take(b compute.Backend, st *data.Stream, scale float64) (data.Chunk, *tensors.Tensor, error) {
	c, err := f.r.Next()
	if err != nil {
		return c, nil, err
	}
	f.next = c.Next
	if !math.IsNaN(scale) && scale != 1 { // as the model scaled the sample (sae.go: scaled)
		for i, v := range c.X {
			c.X[i] = float32(float64(v) * scale)
		}
	}
	if c.N == st.ChunkRows() {
		x := f.full[c.Buf]
		if !f.shared {
			if err := x.InvalidateOnDevice(); err != nil { // the host values are new
				return c, nil, err
			}
		}
		return c, x, nil
	}
	if f.short == nil || f.short.Shape().Dimensions[0] != c.N {
		freeAll(f.short)
		if f.short, err = tensors.FromShapeForBackend(b, 0, shapes.Make(dtypes.Float32, c.N, st.Dim())); err != nil {
			return c, nil, err
		}
	}
	tensors.MustMutableFlatData(f.short, func(x []float32) { copy(x, c.X) })
	return c, f.short, nil
}

// CheckStream refuses a streamed set whose chunks (dataset.buffer) hold less than a
// batch, with the buffer needed (nil for a set in memory).
func CheckStream(s *spec.Spec, d Data) error {
	st := d.Stream
	if st == nil || st.ChunkRows() >= s.Train.BatchSize {
		return nil
	}
	need := (3*4*int64(st.Dim())*int64(s.Train.BatchSize) + 1<<20 - 1) >> 20
	return fmt.Errorf("dataset.buffer: %d MiB gives chunks of %d rows of %s, less than a batch (train.batch_size %d): allowed: at least %d MiB",
		s.Dataset.Buffer, st.ChunkRows(), st.Source(), s.Train.BatchSize, need)
}

// streamSteps is the optimizer steps of an epoch of rows read in chunks of chunk rows
// (every chunk full but the epoch's last), B rows a step.
func streamSteps(rows, chunk, B int) int {
	full, rest := rows/chunk, rows%chunk
	return full*((chunk+B-1)/B) + (rest+B-1)/B
}

// trainStreamEpoch trains epoch on its chunks, as trainEpoch trains it on the set;
// from, when set, is a checkpoint inside the epoch the members resume at (their
// tallies, the steps already run).
//
// Between chunks, where the host has control, it calls save (a checkpoint inside the
// epoch) at the first chunk boundary after every record.checkpoints.steps steps of the
// epoch (steps counted from the epoch's start, so where they fall depends on the
// steps only), and when ctx is cancelled: then it saves and stops there (stopped; the
// tally read is the unfinished epoch's). The epoch's last chunk ends the epoch, and
// the loop checkpoints after it as after any epoch.
func (gr *group) trainStreamEpoch(ctx context.Context, epoch int, f *chunkFeed, active []bool, from *resumeAt,
	save func(done int, tally []*tensors.Tensor, firstCall float64) error, obs Observer) (out epochTally, stopped bool, err error) {
	st := gr.data.Stream
	steps := streamSteps(st.Rows(), st.ChunkRows(), f.B)
	every := gr.spec.Record.Checkpoints.Steps
	tally, done := gr.newTally(active), 0
	if from != nil {
		freeAll(tally...)
		if tally, err = gr.resumedTally(); err != nil {
			return out, false, err
		}
		done = from.steps
	}
	out.epochSteps = steps
	for {
		c, x, err := f.take(gr.backend, st, gr.model.inputScale())
		if errors.Is(err, data.ErrStreamExhausted) || err == nil && c.At.Epoch != epoch {
			err = fmt.Errorf("stream of %s: epoch %d's chunks ended early (a bug)", st.Source(), epoch)
		}
		if err != nil {
			freeAll(tally...)
			return out, false, err
		}
		gr.xTrain = x
		gr.batches = (c.N + f.B - 1) / f.B
		gr.rows = c.N - (gr.batches-1)*f.B
		idx := gr.epochIndices(f.orders, c.N, f.B)
		tally, err = gr.trainSteps(epoch, idx, tally, done, steps, &out, obs)
		idx.FinalizeAll()
		if err != nil {
			return out, false, err
		}
		gr.releaseMemory() // the chunk's scratch memory: a chunk takes seconds, a release milliseconds
		before := done
		done += gr.batches
		if c.Next.Epoch != epoch {
			break
		}
		stop := ctx.Err() != nil
		if stop || every > 0 && done/every > before/every {
			if err := save(done, tally, out.firstCall); err != nil {
				freeAll(tally...)
				return out, false, err
			}
		}
		if stop {
			stopped = true
			break
		}
	}
	out.read(tally)
	out.steps = done
	return out, stopped, nil
}

// resumedTally is the tally of the epoch the members resume inside, from their
// checkpoints.
func (gr *group) resumedTally() ([]*tensors.Tensor, error) {
	K, M := len(gr.members), len(gr.metricNames())
	sums, active := make([]float64, 0, K*M), make([]bool, K)
	failStep, failLoss := make([]int32, K), make([]float32, K)
	for k, m := range gr.members {
		t := m.Resume.Tally
		if t == nil || len(t.Sums) != M {
			return nil, fmt.Errorf("checkpoint of run %s: no tally of %d training metrics for the epoch it resumes inside", m.RunID, M)
		}
		sums = append(sums, t.Sums...)
		active[k], failStep[k], failLoss[k] = t.Active, t.FailStep, t.FailLoss
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(sums, K, M),
		tensors.FromValue(active),
		tensors.FromValue(failStep),
		tensors.FromValue(failLoss),
	}, nil
}

// streamState is a checkpoint's stream part, checked against the stream.
type streamState struct {
	pos   data.Position
	order []byte
}

// resumeStream reads a checkpoint's stream state: it must be there (a checkpoint of a
// streamed run) and of the same folder of shards.
func resumeStream(r *checkpoint.State, st *data.Stream) (streamState, error) {
	s := r.Stream
	if s == nil {
		return streamState{}, fmt.Errorf("checkpoint of run %s holds no stream position (written before streamed runs checkpointed?)", r.RunID)
	}
	if s.Rows != st.Rows() || s.Shards != st.Shards() {
		return streamState{}, fmt.Errorf("checkpoint of run %s was written for %d rows in %d shards, but %s now holds %d rows in %d shards: the data changed",
			r.RunID, s.Rows, s.Shards, st.Source(), st.Rows(), st.Shards())
	}
	pos := data.Position{Epoch: s.Epoch, Shard: s.Shard, Offset: s.Offset}
	if err := st.CheckPosition(pos); err != nil {
		return streamState{}, fmt.Errorf("checkpoint of run %s: %w", r.RunID, err)
	}
	return streamState{pos: pos, order: s.Order}, nil
}

// saveStream adds member k's stream state to its checkpoint.
func (f *chunkFeed) saveStream(k int, st *data.Stream, s *checkpoint.State) error {
	order, err := f.pcgs[k].MarshalBinary()
	if err != nil {
		return err
	}
	s.Stream = &checkpoint.Stream{Epoch: f.next.Epoch, Shard: f.next.Shard, Offset: f.next.Offset,
		Rows: st.Rows(), Shards: st.Shards(), Order: order}
	return nil
}
