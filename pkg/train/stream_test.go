package train

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/npytest"
)

// writeShards writes the rows of s as .npy shards of the given row counts.
func writeShards(t testing.TB, s *data.Set, rows ...int) string {
	t.Helper()
	dir, first := t.TempDir(), 0
	for i, n := range rows {
		npytest.Write(t, filepath.Join(dir, fmt.Sprintf("%02d.npy", i)), s.X[first*s.Dim:], n, s.Dim)
		first += n
	}
	if first != s.N {
		t.Fatalf("shards of %d rows for a set of %d", first, s.N)
	}
	return dir
}

// streamed returns d with its training rows streamed from shards in chunks of chunk
// rows (the sample Train: the first chunk's rows, as data.Open makes it).
func streamed(t testing.TB, d Data, shuffle bool, chunk int, shardRows ...int) Data {
	t.Helper()
	st, err := data.OpenStream(writeShards(t, d.Train, shardRows...), data.StreamOptions{
		BufferBytes: int64(3 * 4 * d.Train.Dim * chunk), Shuffle: shuffle, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChunkRows() != chunk {
		t.Fatalf("chunks of %d rows, want %d", st.ChunkRows(), chunk)
	}
	r, err := st.Read(data.Position{Epoch: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	sample := &data.Set{X: append([]float32(nil), c.X...), Labels: make([]int32, c.N), N: c.N, Dim: st.Dim()}
	return Data{Train: sample, Validation: d.Validation, Stream: st}
}

// progressSteps records the last step count Progress reported per epoch.
type progressSteps struct {
	History
	steps map[int][2]int
}

func (p *progressSteps) Progress(epoch, step, steps int) {
	if p.steps == nil {
		p.steps = map[int][2]int{}
	}
	p.steps[epoch] = [2]int{step, steps}
}

func trainData(t *testing.T, b compute.Backend, d Data, members ...Member) ([]Outcome, *progressSteps) {
	t.Helper()
	rec := &progressSteps{}
	out, err := Train(context.Background(), b, members, d, rec)
	if err != nil {
		t.Fatal(err)
	}
	return out, rec
}

// sameMetrics compares model ka of a with model kb of b, epoch by epoch.
func sameMetrics(t *testing.T, what string, a *History, ka int, b *History, kb int, tol float64) {
	t.Helper()
	if len(a.Epochs) <= ka || len(b.Epochs) <= kb || len(a.Epochs[ka]) == 0 || len(a.Epochs[ka]) != len(b.Epochs[kb]) {
		t.Fatalf("%s: epochs of model %d or %d missing", what, ka, kb)
	}
	for i, e := range a.Epochs[ka] {
		for j, m := range e.Metrics {
			got := b.Epochs[kb][i].Metrics[j].Value
			if math.Abs(got-m.Value) > tol*math.Max(1, math.Abs(m.Value)) {
				t.Errorf("%s: model %d epoch %d %s/%s: %v and %v", what, kb, i+1, m.Split, m.Name, m.Value, got)
			}
		}
	}
}

// Rows that arrive in one unshuffled chunk are the set itself: training on them
// streamed gives the in-memory path's numbers to the last bit.
func TestStreamedSetInOneChunkTrainsExactlyAsInMemory(t *testing.T) {
	for name, b := range backendsForTest(t) {
		t.Run(name, func(t *testing.T) {
			d := digits(t)
			m := member(t, "a", nil)
			_, mem := trainData(t, b, d, m)
			_, str := trainData(t, b, streamed(t, d, false, 300, 120, 100, 80), m)
			sameMetrics(t, "in memory vs streamed", &mem.History, 0, &str.History, 0, 0)
		})
	}
}

// Streamed in several chunks (the epoch's last one short, so it compiles its own
// program), models of a group still train as each would alone, the same spec gives
// the same numbers, the epoch's steps are counted across its chunks, and training
// lowers the loss.
func TestStreamedChunksTrainGroupedAsAloneAndReproducibly(t *testing.T) {
	for name, b := range backendsForTest(t) {
		t.Run(name, func(t *testing.T) {
			d := digits(t)
			members := []Member{
				member(t, "a", map[string]any{"train.seed": 1}),
				member(t, "b", map[string]any{"train.seed": 2, "optimizer.learning_rate": 0.003}),
			}
			sd := streamed(t, d, true, 70, 90, 90, 120) // 300 rows: chunks of 70, 70, 70, 70, 20
			_, grouped := trainData(t, b, sd, members...)
			for k, m := range members {
				_, alone := trainData(t, b, sd, m)
				sameMetrics(t, "grouped vs alone", &alone.History, 0, &grouped.History, k, 1e-5)
			}
			_, again := trainData(t, b, sd, members...)
			for k := range members {
				sameMetrics(t, "twice", &grouped.History, k, &again.History, k, 0)
			}
			// 4 chunks of 70 rows = 3 batches of 32 each, and 20 rows = 1 batch.
			for e := 1; e <= 3; e++ {
				if got := grouped.steps[e]; got != [2]int{13, 13} {
					t.Errorf("epoch %d: progress %d of %d steps, want 13 of 13", e, got[0], got[1])
				}
			}
			first, last := grouped.Epochs[0][0], grouped.Epochs[0][2]
			if !(value(last, "train", "loss") < value(first, "train", "loss")) {
				t.Errorf("train loss %v -> %v: not lowered", value(first, "train", "loss"), value(last, "train", "loss"))
			}
		})
	}
}

func TestStreamedChunkSmallerThanABatchIsRefusedWithTheBufferNeeded(t *testing.T) {
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	d := streamed(t, digits(t), true, 20, 300)
	_, err = Train(context.Background(), b, []Member{member(t, "a", nil)}, d, &History{})
	if err == nil || !strings.Contains(err.Error(), "dataset.buffer") || !strings.Contains(err.Error(), "train.batch_size 32") ||
		!strings.Contains(err.Error(), "at least 1 MiB") {
		t.Errorf("err = %v, want dataset.buffer refused with the size needed", err)
	}
}

func TestStreamedChunksRunTheStepsPerCallOfTheSetInMemory(t *testing.T) {
	// bench/sae/stream.sh's shape: 65,536 rows, batch 4,096 (16 steps an epoch), chunks of
	// 16,384 rows (4 steps), 1.03e11 FLOPs a step. In memory: 16 steps in 4 calls of 4.
	const flops = 6 * 2 * 512 * 4096 * 4096.0
	epoch := streamSteps(65536, 65536, 4096)
	inMemory := callSteps(0, epoch, epoch, flops, nil)
	if inMemory != 4 {
		t.Fatalf("in memory: %d steps per call, want 4", inMemory)
	}
	chunk := streamSteps(16384, 16384, 4096)
	if got := callSteps(0, chunk, streamSteps(65536, 16384, 4096), flops, nil); got != inMemory {
		t.Errorf("streamed in chunks of %d steps: %d steps per call, want the %d of the set in memory", chunk, got, inMemory)
	}
	// A call never holds more than a chunk; an asked count is kept where a chunk holds it.
	if got := callSteps(0, 2, 16, 1, nil); got != 2 {
		t.Errorf("chunks of 2 steps, a tiny model: %d steps per call, want 2", got)
	}
	if got := callSteps(3, 4, 16, flops, nil); got != 3 {
		t.Errorf("3 steps per call asked: %d", got)
	}
}

// A model whose loss stops being finite in a later chunk is reported at the epoch's
// step, not at the step within the chunk.
func TestStreamedDivergenceNamesTheEpochsBatchNotTheChunks(t *testing.T) {
	for name, b := range backendsForTest(t) {
		t.Run(name, func(t *testing.T) {
			d := digits(t)
			tr := *d.Train
			tr.X = append([]float32(nil), tr.X...)
			tr.X[250*tr.Dim] = 3e38 // finite, but its square is not: row 250 is in the third chunk of 100
			d.Train = &tr
			sd := streamed(t, d, false, 100, 100, 100, 100) // chunks of 4 batches of 32 (the last 4 rows)
			out, _ := trainData(t, b, sd, member(t, "a", nil))
			if out[0].Status != StatusDiverged || out[0].DivergedAt != 1 {
				t.Fatalf("outcome %+v, want diverged in epoch 1", out[0])
			}
			var loss string
			var epoch, batch int
			if _, err := fmt.Sscanf(out[0].Message, "loss became %s in epoch %d, batch %d", &loss, &epoch, &batch); err != nil {
				t.Fatalf("message %q: %v", out[0].Message, err)
			}
			if batch < 8 || batch > 11 { // the third chunk's steps are the epoch's 8 to 11
				t.Errorf("message %q: batch %d, want one of the third chunk's, 8 to 11", out[0].Message, batch)
			}
		})
	}
}
