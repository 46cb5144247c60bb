// Package checkpoint is the file format of one run's training state in the middle of
// training: a small metadata record (which run, of which resolved configuration, after
// which epoch, and the host-side values training carries between epochs) and a list of
// named variables (raw little-endian values with their dtype and shape). It knows
// nothing of training: pkg/train fills a State from its variables (parameters,
// optimizer moments and step, the model's own state, the noise generator) and sets
// them back from one; the runner writes and reads the files. State a later feature
// adds (an LR schedule's counter, a data stream's position) joins as a variable or a
// field, without a new format.
//
// A checkpoint is written after an epoch (Steps 0) or inside one (Steps > 0: a
// streamed set's, at a chunk boundary, with the epoch's running Tally): "epochs up to
// Epoch complete, Steps optimizer steps of epoch Epoch+1 run".
//
// A file (format v3; v2 is the same layout, from before checkpoints inside an epoch)
// is the magic line, the length (8 bytes, little-endian) of a
// gob-encoded State whose variables carry no data, the variables' raw data one after
// the other, and the SHA-256 of all that. Write streams it to the file: the variables
// are not copied again (a gob encoding of a State holding an SAE's 8 MiB matrices
// allocated several times their size on the Go heap). Format v1 files (the magic line,
// a gob-encoded State with its data, the SHA-256 of both) are still read. Decode
// refuses, with an error naming the file and the reason, a file that is truncated,
// damaged (checksum), of another format, of another run, or of another configuration.
package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// magic opens every checkpoint file; the digit is the format version. magicV2 and
// magicV1 open the files of the earlier formats, still read.
const (
	magic   = "saerun checkpoint v3\n"
	magicV2 = "saerun checkpoint v2\n"
	magicV1 = "saerun checkpoint v1\n"
)

// State is one run's training state after an epoch, or inside one (Steps > 0).
type State struct {
	RunID      string // the run it belongs to
	ConfigHash string // ConfigHash of the run's resolved configuration
	Epoch      int    // epochs completed
	// Steps is how many optimizer steps of epoch Epoch+1 had run: 0 for a checkpoint
	// after an epoch, > 0 for one inside epoch Epoch+1 (then Tally is set).
	Steps int
	// Tally is the running tally of the epoch Steps are of (nil when Steps is 0).
	Tally   *Tally
	Elapsed float64
	// CompileSecs, Final are the run's outcome so far (a resumed run reports them).
	CompileSecs float64
	Final       []Metric
	// AuxNext is the host switch of a model with an aux program (an SAE's AuxK):
	// whether the next call runs it.
	AuxNext bool
	// Journal is how many bytes of the run's epoch journal (the epochs already
	// recorded, kept by the runner) belong to the epochs up to Epoch.
	Journal int64
	// Stream is where a streamed training set's reading stands (nil for a set held in
	// memory).
	Stream *Stream
	// Vars are the variables, each this run's slice of the group's variable.
	Vars []Var
}

// Stream is a streamed training set's position after Epoch (the next chunk's: epoch,
// index in that epoch's shard order, rows of that shard already read), the folder it
// was read from (its rows and shards, checked on resume), and the run's row-order
// generator (a math/rand/v2 PCG's binary state).
type Stream struct {
	Epoch, Shard, Offset int
	Rows, Shards         int
	Order                []byte
}

// Tally is one run's running tally of a partly trained epoch, as the training program
// carries it: the sums of its step metrics weighted by each batch's sample count (in
// the order of the run's training metrics), whether it still trains, and the step and
// loss at which its metrics first stopped being finite (-1, 0: they did not).
type Tally struct {
	Sums     []float64
	Active   bool
	FailStep int32
	FailLoss float32
}

// Metric is a final metric (as results.Metric; this package imports nothing).
type Metric struct {
	Split, Name string
	Value       float64
}

// Var is one variable's values.
type Var struct {
	Name  string // the variable's scope and name
	DType string // dtypes.DType's name
	Dims  []int
	Data  []byte // raw values, as the tensor holds them
}

// header is what a v2 file gob-encodes: the State without its variables' data, and
// each variable's data length.
type header struct {
	State State
	Sizes []int64
}

// Var returns the variable called name, or nil.
func (s *State) Var(name string) *Var {
	for i := range s.Vars {
		if s.Vars[i].Name == name {
			return &s.Vars[i]
		}
	}
	return nil
}

// ConfigHash identifies a run's resolved configuration (its JSON).
func ConfigHash(config []byte) string {
	sum := sha256.Sum256(config)
	return fmt.Sprintf("%x", sum[:])
}

// ErrRefused wraps every reason Read refuses a file.
var ErrRefused = errors.New("checkpoint refused")

// Encode returns the file's bytes for s.
func Encode(s *State) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(magic) + 8 + 4096 + dataSize(s) + sha256.Size)
	if err := encode(&b, s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func dataSize(s *State) int {
	n := 0
	for _, v := range s.Vars {
		n += len(v.Data)
	}
	return n
}

// encode writes s's file to w: the magic line, the header's length and gob encoding,
// the variables' data, and the SHA-256 of all of it.
func encode(w io.Writer, s *State) error {
	h := header{State: *s, Sizes: make([]int64, len(s.Vars))}
	h.State.Vars = make([]Var, len(s.Vars))
	for i, v := range s.Vars {
		h.State.Vars[i] = Var{Name: v.Name, DType: v.DType, Dims: v.Dims}
		h.Sizes[i] = int64(len(v.Data))
	}
	var hb bytes.Buffer
	if err := gob.NewEncoder(&hb).Encode(&h); err != nil {
		return err
	}
	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	if _, err := io.WriteString(out, magic); err != nil {
		return err
	}
	if _, err := out.Write(binary.LittleEndian.AppendUint64(nil, uint64(hb.Len()))); err != nil {
		return err
	}
	if _, err := out.Write(hb.Bytes()); err != nil {
		return err
	}
	for _, v := range s.Vars {
		if _, err := out.Write(v.Data); err != nil {
			return err
		}
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

func refusal(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrRefused, path, fmt.Sprintf(format, args...))
}

// Decode parses a file's bytes (Parse) and checks that they are a checkpoint of run
// runID with the configuration hash configHash. path only names the file in errors.
func Decode(path string, data []byte, runID, configHash string) (*State, error) {
	s, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if s.RunID != runID {
		return nil, refusal(path, "belongs to run %s, not %s", s.RunID, runID)
	}
	if s.ConfigHash != configHash {
		return nil, refusal(path, "written for another configuration (hash %.12s, this run's is %.12s)", s.ConfigHash, configHash)
	}
	return s, nil
}

// Parse parses a file's bytes, checking its format and checksum only. The variables'
// data alias data.
func Parse(path string, data []byte) (*State, error) {
	refuse := func(format string, args ...any) error { return refusal(path, format, args...) }
	head := ""
	if len(data) >= len(magic) {
		head = string(data[:len(magic)])
	}
	if head != magic && head != magicV2 && head != magicV1 {
		return nil, refuse("not a saerun checkpoint (no %q header)", magic[:len(magic)-1])
	}
	if len(data) < len(magic)+sha256.Size {
		return nil, refuse("truncated (%d bytes)", len(data))
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, refuse("damaged or truncated (checksum mismatch)")
	}
	var s State
	if head == magicV1 {
		if err := gob.NewDecoder(bytes.NewReader(body[len(magic):])).Decode(&s); err != nil {
			return nil, refuse("cannot decode: %v", err)
		}
	} else {
		rest := body[len(magic):]
		if len(rest) < 8 || binary.LittleEndian.Uint64(rest) > uint64(len(rest)-8) {
			return nil, refuse("cannot decode: the header's length does not fit in the file")
		}
		n := binary.LittleEndian.Uint64(rest)
		var h header
		if err := gob.NewDecoder(bytes.NewReader(rest[8 : 8+n])).Decode(&h); err != nil {
			return nil, refuse("cannot decode: %v", err)
		}
		raw := rest[8+n:]
		if len(h.Sizes) != len(h.State.Vars) {
			return nil, refuse("cannot decode: %d variables but %d sizes", len(h.State.Vars), len(h.Sizes))
		}
		for i, size := range h.Sizes {
			if size < 0 || size > int64(len(raw)) {
				return nil, refuse("cannot decode: variable %s claims %d bytes, %d left", h.State.Vars[i].Name, size, len(raw))
			}
			h.State.Vars[i].Data, raw = raw[:size:size], raw[size:]
		}
		if len(raw) != 0 {
			return nil, refuse("cannot decode: %d bytes after the variables' data", len(raw))
		}
		s = h.State
	}
	if s.Epoch < 0 || s.Steps < 0 || s.Epoch == 0 && s.Steps == 0 {
		return nil, refuse("epoch %d, step %d of the next", s.Epoch, s.Steps)
	}
	if s.Steps > 0 && s.Tally == nil {
		return nil, refuse("%d steps into epoch %d without that epoch's tally", s.Steps, s.Epoch+1)
	}
	if s.Steps == 0 && s.Tally != nil {
		return nil, refuse("a tally of epoch %d without steps in it", s.Epoch+1)
	}
	return &s, nil
}

// Write writes s to path atomically (a temporary file, then a rename), keeping the
// file it replaces as PreviousPath(path): if the new one is found damaged, the run
// resumes from the one before. It does not fsync: a checkpoint must survive its
// process being killed (the page cache keeps it), and one a machine crash damages is
// found by its checksum and refused, like a short journal.
func Write(path string, s *State) error {
	dir := filepath.Dir(path)
	var tmp string
	var f *os.File
	var err error
	for range 100 { // a name taken, or the folder removed as empty by another process meanwhile: again
		if err = os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		tmp = filepath.Join(dir, "."+filepath.Base(path)+"."+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		if f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666); !errors.Is(err, fs.ErrExist) && !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	if err = encode(bw, s); err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := os.Rename(path, PreviousPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// PreviousPath is where Write keeps the checkpoint a new one replaced.
func PreviousPath(path string) string { return path + ".prev" }
