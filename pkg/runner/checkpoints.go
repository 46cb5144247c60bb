package runner

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// CheckpointsDir is the folder of a sweep folder that holds the checkpoints of the runs
// in training: <run_id>.ckpt (the newest), <run_id>.ckpt.prev (the one before) and
// <run_id>.journal (the epochs the run has recorded, which a resumed run writes into
// its tables again). It is no table: compaction, Verify and the results reader walk
// only the tables of results.Registry.
const CheckpointsDir = "checkpoints"

func ckptPath(dir, runID string) string {
	return filepath.Join(dir, CheckpointsDir, runID+".ckpt")
}

func journalPath(dir, runID string) string {
	return filepath.Join(dir, CheckpointsDir, runID+".journal")
}

// resumePoint is a run's last good checkpoint and the epochs recorded up to it.
type resumePoint struct {
	state  *checkpoint.State
	epochs []*train.Epoch
}

// loadResume reads run r's good checkpoints, newest first (the newest and the one
// before, each with the journal's epochs up to it). Each checkpoint refused (damaged,
// of another run or configuration, or whose journal is short or damaged) is logged by
// name; none when none is good (the run starts at epoch 1).
func loadResume(dir string, r sweep.Run, log io.Writer) []*resumePoint {
	path := ckptPath(dir, r.ID)
	temps, _ := filepath.Glob(filepath.Join(dir, CheckpointsDir, "."+r.ID+".ckpt.*.tmp")) // left by a kill
	for _, t := range temps {
		os.Remove(t)
	}
	hash := checkpoint.ConfigHash(r.Config)
	var good []*resumePoint
	for _, p := range []string{path, checkpoint.PreviousPath(path)} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			var st *checkpoint.State
			if st, err = checkpoint.Decode(p, data, r.ID, hash); err == nil {
				var epochs []*train.Epoch
				if epochs, err = readJournal(journalPath(dir, r.ID), st.Journal); err == nil && len(epochs) != st.Epoch {
					err = fmt.Errorf("journal holds %d epochs, the checkpoint %d", len(epochs), st.Epoch)
				}
				if err == nil {
					good = append(good, &resumePoint{state: st, epochs: epochs})
					continue
				}
				err = fmt.Errorf("%w: %s: %v", checkpoint.ErrRefused, p, err)
			}
		}
		fmt.Fprintf(log, "run %s: %v; not resuming from it\n", r.ID, err)
	}
	return good
}

// at is where p's checkpoint stands: epochs complete, and steps into the next (a
// checkpoint inside an epoch; 0: after the epoch).
func (p *resumePoint) at() [2]int { return [2]int{p.state.Epoch, p.state.Steps} }

// later orders checkpoint positions: by epoch, then by steps into the next.
func later(a, b [2]int) bool { return a[0] > b[0] || a[0] == b[0] && a[1] > b[1] }

// resumePoints chooses where each run of a planned group resumes. A kill between two
// members' checkpoints of one point (an epoch's end, or a chunk boundary inside an
// epoch) leaves them a point apart: when one point is among every run's good
// checkpoints, all resume from the latest such point, as the same group (its numbers
// then equal the uninterrupted group's bit for bit). Otherwise each resumes from its
// newest good checkpoint (nil: from epoch 1), and runs at different points train in
// separate groups.
func resumePoints(cands [][]*resumePoint) []*resumePoint {
	out := make([]*resumePoint, len(cands))
	var common [2]int
	for _, c := range cands[0] {
		e, inAll := c.at(), true
		for _, other := range cands[1:] {
			found := false
			for _, o := range other {
				found = found || o.at() == e
			}
			inAll = inAll && found
		}
		if inAll && later(e, common) {
			common = e
		}
	}
	for i, c := range cands {
		for _, p := range c {
			if (common != [2]int{} && p.at() == common) || (common == [2]int{} && out[i] == nil) {
				out[i] = p
			}
		}
	}
	return out
}

// A journal is a sequence of records: the length of a gob-encoded train.Epoch (8
// bytes, little-endian) and the encoding.

// readJournal decodes the journal's first n bytes.
func readJournal(path string, n int64) ([]*train.Epoch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("journal %s shorter than %d bytes: %v", path, n, err)
	}
	var out []*train.Epoch
	for len(buf) > 0 {
		if len(buf) < 8 {
			return nil, fmt.Errorf("journal %s: damaged record at the end", path)
		}
		size := binary.LittleEndian.Uint64(buf)
		if size > uint64(len(buf)-8) {
			return nil, fmt.Errorf("journal %s: damaged record (%d bytes announced, %d left)", path, size, len(buf)-8)
		}
		var e train.Epoch
		if err := gob.NewDecoder(bytes.NewReader(buf[8 : 8+size])).Decode(&e); err != nil {
			return nil, fmt.Errorf("journal %s: %v", path, err)
		}
		out = append(out, &e)
		buf = buf[8+size:]
	}
	return out, nil
}

// journal appends a run's epochs to its journal file.
type journal struct {
	f    *os.File
	size int64
}

// openJournal opens run's journal for appending after its first n bytes (what a
// resumed checkpoint covers; 0 starts it anew).
func openJournal(path string, n int64) (*journal, error) {
	var f *os.File
	var err error
	for range 100 { // the folder removed as empty by another process meanwhile: again
		if err = os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
			return nil, err
		}
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(n); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(n, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &journal{f: f, size: n}, nil
}

func (j *journal) append(e *train.Epoch) error {
	var b bytes.Buffer
	b.Write(make([]byte, 8))
	if err := gob.NewEncoder(&b).Encode(e); err != nil {
		return err
	}
	rec := b.Bytes()
	binary.LittleEndian.PutUint64(rec, uint64(len(rec)-8))
	if _, err := j.f.Write(rec); err != nil {
		return fmt.Errorf("journal %s: %w", j.f.Name(), err)
	}
	j.size += int64(len(rec))
	return nil
}

func (j *journal) close() {
	if j != nil {
		j.f.Close()
	}
}

// removeCheckpoints removes a run's checkpoints and journal (a finished run's).
func removeCheckpoints(dir, runID string) {
	p := ckptPath(dir, runID)
	temps, _ := filepath.Glob(filepath.Join(dir, CheckpointsDir, "."+runID+".ckpt.*.tmp"))
	for _, f := range append(temps, p, checkpoint.PreviousPath(p), journalPath(dir, runID)) {
		os.Remove(f)
	}
	os.Remove(filepath.Join(dir, CheckpointsDir)) // when empty
}
