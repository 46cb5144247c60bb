package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/data"
)

// A streamed training set (data.Splits.Stream: dataset.buffer) reaches the device a
// chunk at a time: the stream reads the next chunk from disk in the background while
// the current one trains, and each chunk replaces the last as the program's x. Each
// model draws its own order of the chunk's rows (from its seed, as it draws its order
// of a whole set); the stream's shard order and in-chunk shuffle are shared by the
// group (drawn from dataset.split_seed). The epoch's tally runs on across its chunks,
// so the metrics are those of the whole epoch. A chunk of another row count than the
// first (an epoch's last) compiles its own training program once (the step count and
// the short last batch are constants of the program).

// chunkFeed is a run's chunks, read ahead, and each model's row-order generator.
type chunkFeed struct {
	r      *data.Reader
	orders []*rand.Rand
	B      int
}

// openChunks starts reading the stream from the first epoch to the last.
func (gr *group) openChunks(B int) (*chunkFeed, error) {
	st := gr.data.Stream
	if st.ChunkRows() < gr.spec.Train.BatchSize {
		need := (3*4*int64(st.Dim())*int64(gr.spec.Train.BatchSize) + 1<<20 - 1) >> 20
		return nil, fmt.Errorf("dataset.buffer: chunks of %d rows of %s hold less than a batch (train.batch_size %d): allowed: at least %d MiB",
			st.ChunkRows(), st.Source(), gr.spec.Train.BatchSize, need)
	}
	r, err := st.Read(data.Position{Epoch: 1}, gr.spec.Train.Epochs)
	if err != nil {
		return nil, err
	}
	f := &chunkFeed{r: r, B: B, orders: make([]*rand.Rand, len(gr.members))}
	for k, m := range gr.members {
		f.orders[k] = rand.New(rand.NewPCG(uint64(m.Spec.Train.Seed), 0xda7a0de5))
	}
	return f, nil
}

func (f *chunkFeed) close() { f.r.Close() }

// streamSteps is the optimizer steps of an epoch of rows read in chunks of chunk rows
// (every chunk full but the epoch's last), B rows a step.
func streamSteps(rows, chunk, B int) int {
	full, rest := rows/chunk, rows%chunk
	return full*((chunk+B-1)/B) + (rest+B-1)/B
}

// trainStreamEpoch trains epoch on its chunks, as trainEpoch trains it on the set.
func (gr *group) trainStreamEpoch(epoch int, f *chunkFeed, active []bool, obs Observer) (epochTally, error) {
	st := gr.data.Stream
	steps := streamSteps(st.Rows(), st.ChunkRows(), f.B)
	tally := gr.newTally(active)
	var out epochTally
	scale := gr.model.inputScale()
	for done := 0; ; {
		c, err := f.r.Next()
		if errors.Is(err, data.ErrStreamExhausted) || err == nil && c.At.Epoch != epoch {
			err = fmt.Errorf("stream of %s: epoch %d's chunks ended early (a bug)", st.Source(), epoch)
		}
		if err != nil {
			freeAll(tally...)
			return out, err
		}
		if !math.IsNaN(scale) && scale != 1 { // as the model scaled the sample (sae.go: scaled); NaN: the model has none
			for i, v := range c.X {
				c.X[i] = float32(float64(v) * scale)
			}
		}
		gr.xTrain.FinalizeAll()
		gr.xTrain = tensors.FromFlatDataAndDimensions(c.X, c.N, st.Dim())
		gr.batches = (c.N + f.B - 1) / f.B
		gr.rows = c.N - (gr.batches-1)*f.B
		idx := gr.epochIndices(f.orders, c.N, f.B)
		tally, err = gr.trainSteps(epoch, idx, tally, done, steps, &out, obs)
		idx.FinalizeAll()
		if err != nil {
			return out, err
		}
		done += gr.batches
		if c.Next.Epoch != epoch {
			break
		}
	}
	out.read(tally)
	return out, nil
}
