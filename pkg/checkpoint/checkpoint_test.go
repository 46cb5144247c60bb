package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func sample(epoch int) *State {
	return &State{RunID: "r1", ConfigHash: ConfigHash([]byte(`{"a":1}`)), Epoch: epoch, Journal: 42,
		Final: []Metric{{"validation", "loss", 0.5}},
		Vars:  []Var{{Name: "/kernel", DType: "Float32", Dims: []int{2, 3}, Data: []byte{1, 2, 3, 4}}}}
}

func TestWrittenCheckpointDecodesToTheSameState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c", "r1.ckpt")
	if err := Write(path, sample(3)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(path, data, "r1", sample(3).ConfigHash)
	if err != nil || !reflect.DeepEqual(got, sample(3)) {
		t.Fatalf("got %+v, %v", got, err)
	}
	// A second write keeps the first as the previous one.
	if err := Write(path, sample(4)); err != nil {
		t.Fatal(err)
	}
	prev, _ := os.ReadFile(PreviousPath(path))
	if s, err := Decode(path, prev, "r1", sample(3).ConfigHash); err != nil || s.Epoch != 3 {
		t.Fatalf("previous: %+v %v", s, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Errorf("%d files, want the checkpoint and its previous (no temporary left)", len(entries))
	}
}

func TestHostileCheckpointsAreRefusedByNameAndReason(t *testing.T) {
	good, err := Encode(sample(2))
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	other := sample(2)
	other.RunID = "r2"
	otherRun, _ := Encode(other)
	other = sample(2)
	other.ConfigHash = ConfigHash([]byte(`{"a":2}`))
	otherSpec, _ := Encode(other)
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"truncated":         {good[:len(good)-7], "checksum"},
		"truncated to head": {good[:len(magic)+3], "truncated"},
		"empty":             {nil, "not a saerun checkpoint"},
		"garbage":           {[]byte("PAR1 this is not a checkpoint at all, but it is long enough"), "not a saerun checkpoint"},
		"bit flipped":       {flipped, "checksum"},
		"another run":       {otherRun, "belongs to run r2"},
		"another spec":      {otherSpec, "another configuration"},
	} {
		_, err := Decode("x/r1.ckpt", c.data, "r1", sample(2).ConfigHash)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "x/r1.ckpt") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a refusal naming the file and %q", name, err, c.want)
		}
	}
}

// A checkpoint of the first format (a gob-encoded State with its data) still decodes.
func TestVersion1CheckpointsStillDecode(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(magicV1)
	if err := gob.NewEncoder(&b).Encode(sample(3)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	got, err := Decode("v1.ckpt", b.Bytes(), "r1", sample(3).ConfigHash)
	if err != nil || !reflect.DeepEqual(got, sample(3)) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// A v2 file whose header's sizes disagree with its data (with a valid checksum: a
// writer's bug, not damage) is refused by name and reason.
func TestCheckpointWhoseSizesDisagreeWithItsDataIsRefused(t *testing.T) {
	s := sample(2)
	for name, data := range map[string][]byte{"short": {1, 2, 3}, "long": {1, 2, 3, 4, 5}} {
		good, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		body := good[:len(good)-sha256.Size-4] // the variable's 4 bytes and the sum cut
		forged := append(append([]byte(nil), body...), data...)
		sum := sha256.Sum256(forged)
		forged = append(forged, sum[:]...)
		_, err = Decode("x/r1.ckpt", forged, "r1", s.ConfigHash)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "x/r1.ckpt") || !strings.Contains(err.Error(), "cannot decode") {
			t.Errorf("%s: got %v, want a refusal naming the file", name, err)
		}
	}
}

// Writing a checkpoint streams its variables to the file: a 64 MiB state allocates a
// few MiB on the Go heap, not several copies of itself (the gob encoding of v1 did).
func TestWritingACheckpointDoesNotCopyItsVariables(t *testing.T) {
	s := sample(2)
	s.Vars = nil
	for i := range 8 {
		s.Vars = append(s.Vars, Var{Name: fmt.Sprintf("/w%d", i), DType: "Float32", Dims: []int{2048, 1024}, Data: make([]byte, 8<<20)})
	}
	path := filepath.Join(t.TempDir(), "r1.ckpt")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := Write(path, s); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("writing a 64 MiB checkpoint allocated %d MiB", got>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(path, data, "r1", s.ConfigHash)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %v", err)
	}
}

// A checkpoint inside an epoch (Steps, Tally) round-trips: its steps into the next
// epoch and that epoch's running tally come back as written, bit for bit.
func TestMidEpochCheckpointRoundTripsItsStepsAndTally(t *testing.T) {
	for _, epoch := range []int{0, 2} {
		s := sample(epoch)
		s.Steps = 17
		s.Tally = &Tally{Sums: []float64{0.1 + 0.2, -3e-300, 7}, Active: true, FailStep: -1, FailLoss: 0}
		s.Stream = &Stream{Epoch: epoch + 1, Shard: 2, Offset: 100, Rows: 1200, Shards: 3, Order: []byte{1, 2}}
		path := filepath.Join(t.TempDir(), "r1.ckpt")
		if err := Write(path, s); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if !bytes.HasPrefix(data, []byte(magic)) {
			t.Errorf("written as %q, want the current format %q", data[:len(magic)], magic)
		}
		got, err := Decode(path, data, "r1", s.ConfigHash)
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("epoch %d: got %+v (tally %+v), %v", epoch, got, got.Tally, err)
		}
	}
}

// A checkpoint of format v2 (testdata/v2-after-epoch-3.ckpt, written by the code of
// that format) still decodes: after epoch 3, no steps into epoch 4, no tally.
func TestVersion2CheckpointsStillDecode(t *testing.T) {
	path := filepath.Join("testdata", "v2-after-epoch-3.ckpt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(magicV2)) {
		t.Fatalf("%s is not a v2 file", path)
	}
	want := sample(3)
	want.Elapsed, want.CompileSecs, want.AuxNext = 12.5, 1.25, true
	want.Stream = &Stream{Epoch: 4, Shard: 1, Offset: 341, Rows: 1200, Shards: 3, Order: []byte{9, 8, 7}}
	got, err := Decode(path, data, "r1", want.ConfigHash)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// States no writer makes are refused by name: before any step, steps without the
// tally, a tally without steps.
func TestCheckpointOfAnImpossiblePositionIsRefused(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(*State)
		want string
	}{
		"epoch 0, no steps":   {func(s *State) { s.Epoch = 0 }, "epoch 0, step 0"},
		"negative steps":      {func(s *State) { s.Steps = -1 }, "step -1"},
		"steps without tally": {func(s *State) { s.Steps = 5 }, "without that epoch's tally"},
		"tally without steps": {func(s *State) { s.Tally = &Tally{Sums: []float64{1}} }, "without steps"},
	} {
		s := sample(2)
		c.edit(s)
		data, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode("x/r1.ckpt", data, "r1", s.ConfigHash); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "x/r1.ckpt") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a refusal naming the file and %q", name, err, c.want)
		}
	}
}
