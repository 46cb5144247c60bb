package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/sparselab/saerun/pkg/data/npytest"
)

// writeShard writes a 2-D .npy shard of rows×dim whose row i holds first+i in column 0
// and first+i+c/1000-ish marks elsewhere (exact in float16 for small ids).
func writeShard(t testing.TB, path, descr string, first, rows, dim int) {
	t.Helper()
	out := npytest.Header(descr, rows, dim)
	for i := range rows {
		for c := range dim {
			v := float32(first+i) + float32(c)/4 // quarters: exact in float16 below 512
			if descr == "<f2" {
				out = binary.LittleEndian.AppendUint16(out, float32to16(v))
			} else {
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
			}
		}
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// float32to16 converts a value exactly representable in float16 (normal, positive or
// zero) for the fixtures.
func float32to16(v float32) uint16 {
	if v == 0 {
		return 0
	}
	b := math.Float32bits(v)
	e := int(b>>23&0xff) - 127 + 15
	return uint16(e)<<10 | uint16(b>>13&0x3ff)
}

// shardFolder writes shards of the given row counts, ids consecutive, and returns
// the folder.
func shardFolder(t testing.TB, descr string, dim int, rows ...int) string {
	dir := t.TempDir()
	first := 0
	for i, n := range rows {
		writeShard(t, filepath.Join(dir, fmt.Sprintf("shard-%03d.npy", i)), descr, first, n, dim)
		first += n
	}
	return dir
}

// readAll reads the stream from p to the end of lastEpoch, returning the ids (column
// 0) of each epoch and the chunks' positions.
func readAll(t *testing.T, s *Stream, p Position, lastEpoch int) (map[int][]int, []Chunk) {
	t.Helper()
	r, err := s.Read(p, lastEpoch)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids := map[int][]int{}
	var chunks []Chunk
	for {
		c, err := r.Next()
		if errors.Is(err, ErrStreamExhausted) {
			return ids, chunks
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.N {
			row := c.X[i*s.Dim() : (i+1)*s.Dim()]
			for j, v := range row {
				if v != row[0]+float32(j)/4 {
					t.Fatalf("chunk at %+v row %d is torn: %v", c.At, i, row)
				}
			}
			ids[c.At.Epoch] = append(ids[c.At.Epoch], int(row[0]))
		}
		c.X = slices.Clone(c.X)
		chunks = append(chunks, c)
	}
}

func TestStreamYieldsEveryRowExactlyOncePerEpoch(t *testing.T) {
	for _, descr := range []string{"<f4", "<f2"} {
		for _, shuffle := range []bool{false, true} {
			dir := shardFolder(t, descr, 3, 7, 1, 12, 5) // 25 rows; chunks of 4 span shards
			s, err := OpenStream(dir, StreamOptions{BufferBytes: 3 * 4 * 3 * 4, Shuffle: shuffle, Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			if s.Rows() != 25 || s.Dim() != 3 || s.ChunkRows() != 4 || s.Dtype() != descr {
				t.Fatalf("rows %d dim %d chunk %d dtype %s, want 25 3 4 %s", s.Rows(), s.Dim(), s.ChunkRows(), s.Dtype(), descr)
			}
			ids, _ := readAll(t, s, Position{Epoch: 1}, 3)
			for e := 1; e <= 3; e++ {
				got := slices.Sorted(slices.Values(ids[e]))
				for i, v := range got {
					if v != i {
						t.Fatalf("%s shuffle=%v epoch %d: ids %v, want each of 0..24 once", descr, shuffle, e, ids[e])
					}
				}
				if len(got) != 25 {
					t.Fatalf("%s shuffle=%v epoch %d: %d rows, want 25", descr, shuffle, e, len(got))
				}
			}
			inOrder := slices.IsSorted(ids[1])
			if inOrder == shuffle {
				t.Errorf("%s shuffle=%v: epoch 1 in file order = %v: %v", descr, shuffle, inOrder, ids[1])
			}
			if shuffle && slices.Equal(ids[1], ids[2]) {
				t.Errorf("%s: epochs 1 and 2 in the same shuffled order %v", descr, ids[1])
			}
		}
	}
}

func TestStreamSameSeedSameOrderOtherSeedOther(t *testing.T) {
	dir := shardFolder(t, "<f4", 2, 10, 10, 10, 10)
	order := func(seed uint64) []int {
		s, err := OpenStream(dir, StreamOptions{BufferBytes: 3 * 6 * 2 * 4, Shuffle: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := readAll(t, s, Position{Epoch: 1}, 2)
		return append(ids[1], ids[2]...)
	}
	a, b, c := order(1), order(1), order(2)
	if !slices.Equal(a, b) {
		t.Errorf("seed 1 twice: %v and %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2 give the same order %v", a)
	}
}

// A reader started at any chunk's position (what a checkpoint holds) yields exactly
// the chunks the uninterrupted stream yields from there.
func TestStreamRestartsFromEveryChunkPosition(t *testing.T) {
	dir := shardFolder(t, "<f4", 2, 9, 4, 11)
	s, err := OpenStream(dir, StreamOptions{BufferBytes: 3 * 5 * 2 * 4, Shuffle: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, all := readAll(t, s, Position{Epoch: 1}, 3)
	for i, c := range all {
		_, rest := readAll(t, s, c.At, 3)
		if len(rest) != len(all)-i {
			t.Fatalf("from %+v: %d chunks, want %d", c.At, len(rest), len(all)-i)
		}
		for j := range rest {
			w := all[i+j]
			if rest[j].At != w.At || rest[j].Next != w.Next || !slices.Equal(rest[j].X, w.X) {
				t.Fatalf("from %+v: chunk %d differs from the uninterrupted stream's", c.At, j)
			}
		}
	}
	if last := all[len(all)-1].Next; last != (Position{Epoch: 4}) {
		t.Errorf("position after the last chunk of epoch 3 = %+v, want {4 0 0}", last)
	}
}

// The reader holds three buffers of ChunkRows rows, within BufferBytes, and never
// allocates more however many chunks it reads.
func TestStreamStaysWithinItsBuffer(t *testing.T) {
	dir := shardFolder(t, "<f4", 4, 50, 50, 50, 50)
	const budget = 1000 // bytes: 3 buffers of 20 rows of 16 bytes = 960
	s, err := OpenStream(dir, StreamOptions{BufferBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	if held := 3 * s.ChunkRows() * s.Dim() * 4; held > budget || s.ChunkRows() != 20 {
		t.Fatalf("chunk of %d rows: %d bytes held, budget %d", s.ChunkRows(), held, budget)
	}
	r, err := s.Read(Position{Epoch: 1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buffers := map[*float32]bool{}
	n := 0
	for {
		c, err := r.Next()
		if errors.Is(err, ErrStreamExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.N > s.ChunkRows() || len(c.X) != c.N*s.Dim() {
			t.Fatalf("chunk of %d rows (%d values), at most %d rows", c.N, len(c.X), s.ChunkRows())
		}
		buffers[unsafe.SliceData(c.X)] = true
		n += c.N
	}
	if n != 4*200 || len(buffers) > 3 {
		t.Errorf("read %d rows in %d distinct buffers, want 800 rows in at most 3", n, len(buffers))
	}
}

func TestStreamRefusesHostileShardsByName(t *testing.T) {
	cases := []struct {
		name  string
		make  func(t *testing.T, dir string)
		wants []string
	}{
		{"empty folder", func(t *testing.T, dir string) {}, []string{"no *.npy shards"}},
		{"different widths", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "a.npy"), "<f4", 0, 3, 4)
			writeShard(t, filepath.Join(dir, "b.npy"), "<f4", 3, 3, 5)
		}, []string{"b.npy", "5 features", "a.npy", "has 4", "same width"}},
		{"mixed dtypes", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "a.npy"), "<f4", 0, 3, 4)
			writeShard(t, filepath.Join(dir, "b.npy"), "<f2", 3, 3, 4)
		}, []string{"b.npy", "dtype <f2", "a.npy is <f4", "same dtype"}},
		{"truncated shard", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "a.npy"), "<f4", 0, 3, 4)
			writeShard(t, filepath.Join(dir, "b.npy"), "<f4", 3, 3, 4)
			p := filepath.Join(dir, "b.npy")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-5); err != nil {
				t.Fatal(err)
			}
		}, []string{"b.npy", "truncated", "needs 48 bytes", "has 43"}},
		{"other dtype", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "a.npy"), "<f8", 0, 0, 4)
		}, []string{"a.npy", `dtype "<f8"`, "allowed: <f4, <f2"}},
		{"not npy", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "a.npy"), []byte("PAR1 nonsense"), 0o644)
		}, []string{"a.npy", "not a .npy file"}},
		{"buffer too small", func(t *testing.T, dir string) {
			writeShard(t, filepath.Join(dir, "a.npy"), "<f4", 0, 3, 4)
		}, []string{"buffer of 40 bytes", "allowed: at least 48 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.make(t, dir)
			_, err := OpenStream(dir, StreamOptions{BufferBytes: 40})
			if err == nil {
				t.Fatal("opened, want an error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := OpenStream(filepath.Join(t.TempDir(), "nope"), StreamOptions{BufferBytes: 1 << 20}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing folder: %v, want ErrNotFound", err)
	}
}

// A shard cut short after the stream opened (a copy still running, a full disk) is
// an error naming it when the reader reaches it, not rows of zeros.
func TestStreamShardTruncatedMidStreamIsAnErrorNamingIt(t *testing.T) {
	dir := shardFolder(t, "<f4", 4, 10, 10, 10)
	s, err := OpenStream(dir, StreamOptions{BufferBytes: 3 * 4 * 4 * 4})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(Position{Epoch: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "shard-002.npy")
	fi, _ := os.Stat(p)
	if err := os.Truncate(p, fi.Size()-100); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := r.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "shard-002.npy") {
			t.Fatalf("err = %v, want ErrTruncated naming shard-002.npy", err)
		}
		return
	}
}

func TestStreamRefusesNonFiniteValuesAndPositionsItDoesNotHave(t *testing.T) {
	dir := shardFolder(t, "<f4", 2, 4, 4)
	p := filepath.Join(dir, "shard-001.npy")
	b, _ := os.ReadFile(p)
	binary.LittleEndian.PutUint32(b[len(b)-4:], math.Float32bits(float32(math.NaN())))
	os.WriteFile(p, b, 0o644)
	s, err := OpenStream(dir, StreamOptions{BufferBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(Position{Epoch: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	r.Close()
	if err == nil || !strings.Contains(err.Error(), "shard-001.npy") || !strings.Contains(err.Error(), "row 3, column 1 is NaN") {
		t.Errorf("err = %v, want the NaN named by shard, row and column", err)
	}
	for _, bad := range []Position{{0, 0, 0}, {1, 2, 0}, {1, 0, 4}, {1, -1, 0}, {1, 0, -1}} {
		if _, err := s.Read(bad, 1); err == nil || !strings.Contains(err.Error(), "does not exist") && !strings.Contains(err.Error(), "has 4 rows") {
			t.Errorf("position %+v: err = %v, want it refused", bad, err)
		}
	}
}
