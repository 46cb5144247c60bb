package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
