package data

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/sparselab/saerun/pkg/results"
)

// A Stream reads a data set too large for memory from a folder of shards, a chunk at a
// time: at most StreamOptions.BufferBytes of rows are held at once, however large the
// folder.
//
// The shards are the folder's *.npy files (2-D, C order, all of one dtype: "<f4" or
// "<f2", and one width) or its *.parquet files (one list<float32> or list<float16>
// column of vectors, the same in every shard, as LoadParquet reads it; names starting
// with "." or "_" are skipped), taken in name order. float16 values are converted to
// float32 exactly as they are read.
//
// Every epoch reads every row exactly once: the shards in name order, or (Shuffle) in
// an order drawn from Seed and the epoch, and each chunk's rows in file order or
// (Shuffle) permuted by a generator seeded by Seed and the chunk's Position. Chunks
// never span two epochs. So the order is a function of Seed and the position alone: a
// Reader started at any chunk's Position (a checkpoint's) yields the same chunks the
// uninterrupted stream yields from there.
//
// A Reader fills the next chunk in a goroutine while the caller works on the current
// one, into buffers the caller hands it (ReadInto: two, the one being filled and the
// one in use) or its own (Read). BufferBytes is sized for three chunks of float32 rows
// (ChunkRows() = BufferBytes / (3 × 4 × Dim) rows each): the two buffers and a copy of
// an epoch's last, shorter chunk (training compiles a program per chunk shape, see
// package train).
type Stream struct {
	dir    string
	format string // "npy" or "parquet"
	shards []shard
	dim    int
	dtype  string
	rows   int
	opts   StreamOptions
	chunk  int // rows per chunk
}

// StreamOptions configure a Stream.
type StreamOptions struct {
	// BufferBytes bounds the memory that holds rows: three chunks of float32 rows (see
	// Stream). It must hold at least three rows.
	BufferBytes int64
	// Shuffle draws each epoch's shard order and permutes the rows within each chunk;
	// otherwise shards are read in name order and rows in file order.
	Shuffle bool
	// Seed draws the shuffled orders.
	Seed uint64
	// Format is "npy" (the folder's *.npy shards) or "parquet" (its *.parquet shards);
	// "" takes the kind the folder holds.
	Format string
	// Column (parquet) is the vector column, as ParquetOptions.Column.
	Column string
}

// Position is where a stream stands, small enough for a checkpoint to hold: the epoch
// (from 1), the index of the current shard in that epoch's shard order, and the rows
// of that shard already delivered. The position after the last chunk of epoch e is
// {e+1, 0, 0}.
type Position struct {
	Epoch, Shard, Offset int
}

// Chunk is a block of consecutive stream rows.
type Chunk struct {
	X    []float32 // N*Dim, row-major
	N    int
	At   Position // where the chunk starts
	Next Position // where the next chunk starts
	Buf  int      // the index of the buffer (of ReadInto's) that holds X
}

// shard is one file of the folder.
type shard struct {
	path   string
	rows   int
	header int      // npy: bytes before the data
	pq     *pqShard // parquet
}

// ErrStreamExhausted is returned by Reader.Next after the last epoch's last chunk.
var ErrStreamExhausted = errors.New("stream: no more epochs")

// StreamFormats are the kinds of shard a Stream reads.
var StreamFormats = []string{"npy", "parquet"}

// OpenStream checks the shards of dir (headers, footers and sizes; the values are
// checked as they are read) and returns their Stream. It refuses, naming the file: a
// missing folder, a folder without shards of the format (or with both .npy and
// .parquet files when no format is given), a shard of another width or element type
// than the first, a shard without rows, a .npy shard whose size does not match its
// header, and a parquet shard whose footer does not add up (the hostile-file checks of
// LoadParquet).
func OpenStream(dir string, opts StreamOptions) (*Stream, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data: %w: %s (a relative path is resolved against the working directory)", ErrNotFound, absPath(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("data: %s: %w: a stream reads a folder of shards (.npy or .parquet files), this is a file", absPath(dir), ErrBadFormat)
	}
	npys, parquets, err := shardFiles(dir)
	if err != nil {
		return nil, err
	}
	format := opts.Format
	switch {
	case format == "" && len(npys) > 0 && len(parquets) > 0:
		return nil, fmt.Errorf("data: %s: %w: the folder holds both .npy (%s) and .parquet (%s) shards; allowed: one kind",
			absPath(dir), ErrBadFormat, filepath.Base(npys[0]), filepath.Base(parquets[0]))
	case format == "" && len(parquets) > 0:
		format = "parquet"
	case format == "":
		format = "npy"
	case !slices.Contains(StreamFormats, format):
		return nil, fmt.Errorf("data: stream format %q; allowed: %s", format, strings.Join(StreamFormats, ", "))
	}
	names := npys
	if format == "parquet" {
		names = parquets
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: %s: %w: no *.%s shards in the folder", absPath(dir), ErrNotFound, format)
	}
	s := &Stream{dir: dir, format: format, opts: opts}
	ld := &parquetLoader{opt: ParquetOptions{Column: opts.Column}}
	for _, p := range names {
		var (
			sh         shard
			dim        int
			dtype, col string // col: the parquet vector column, for messages
		)
		if format == "npy" {
			sh, dim, dtype, err = statShard(p)
		} else {
			sh, dim, dtype, err = statParquetShard(p, ld)
			col = fmt.Sprintf("%q", ld.column)
		}
		if err != nil {
			return nil, err
		}
		if s.dim == 0 {
			s.dim, s.dtype = dim, dtype
		} else if dim != s.dim {
			return nil, fmt.Errorf("data: %s: %w: rows of %d features, but %s has %d; every shard must have the same width",
				absPath(p), ErrBadFormat, dim, absPath(s.shards[0].path), s.dim)
		} else if dtype != s.dtype && format == "npy" {
			return nil, fmt.Errorf("data: %s: %w: dtype %s, but %s is %s; every shard must have the same dtype (allowed: %s)",
				absPath(p), ErrBadFormat, dtype, absPath(s.shards[0].path), s.dtype, strings.Join(NPYDtypes, ", "))
		} else if dtype != s.dtype {
			return nil, fmt.Errorf("data: %s: %w: column %s is %s, but %s's is %s; every shard must have the same element type (allowed: %s)",
				absPath(p), ErrBadFormat, col, dtype, absPath(s.shards[0].path), s.dtype, vectorKinds)
		}
		s.shards = append(s.shards, sh)
		s.rows += sh.rows
		if s.rows < 0 || s.rows > math.MaxInt32*8 {
			return nil, fmt.Errorf("data: %s: %w: more than %d rows", absPath(dir), ErrBadFormat, math.MaxInt32*8)
		}
	}
	rowBytes := int64(4 * s.dim)
	if opts.BufferBytes < 3*rowBytes {
		return nil, fmt.Errorf("data: %s: buffer of %d bytes holds fewer than 3 rows of %d features (%d bytes each); allowed: at least %d bytes",
			absPath(dir), opts.BufferBytes, s.dim, rowBytes, 3*rowBytes)
	}
	s.chunk = int(min(opts.BufferBytes/(3*rowBytes), int64(s.rows)))
	return s, nil
}

// shardFiles lists the .npy and the .parquet files of dir, each in name order
// (.parquet by the results reader's rule: names starting with "." or "_" are not data).
func shardFiles(dir string) (npys, parquets []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	for _, e := range entries { // sorted by name
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(name, ".npy"):
			npys = append(npys, filepath.Join(dir, name))
		case results.IsParquetFile(name):
			parquets = append(parquets, filepath.Join(dir, name))
		}
	}
	return npys, parquets, nil
}

// statShard reads a .npy shard's header and checks its size.
func statShard(p string) (shard, int, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return shard{}, 0, "", fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return shard{}, 0, "", fmt.Errorf("data: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("data: %s: %w: %s", absPath(p), ErrBadFormat, fmt.Sprintf(format, args...))
	}
	h, hb, err := readNPYHeader(bufio.NewReader(f))
	if err != nil {
		return shard{}, 0, "", bad("%v", err)
	}
	if h.fortran {
		return shard{}, 0, "", bad("Fortran (column-major) order; allowed: C order (write np.ascontiguousarray(x))")
	}
	if len(h.shape) != 2 {
		return shard{}, 0, "", bad("shape %v; allowed: 2-D (rows, features)", h.shape)
	}
	item := npyItemSize(h.descr)
	if item == 0 {
		return shard{}, 0, "", bad("dtype %q; allowed: %s", h.descr, strings.Join(NPYDtypes, ", "))
	}
	n, dim := h.shape[0], h.shape[1]
	if n < 1 || dim < 1 {
		return shard{}, 0, "", bad("shape %v: no rows; every shard must hold rows", h.shape)
	}
	if dim > math.MaxInt32 || n > math.MaxInt/dim/4 {
		return shard{}, 0, "", bad("shape %v is too large", h.shape)
	}
	want := int64(hb) + int64(n)*int64(dim)*int64(item)
	if fi.Size() < want {
		return shard{}, 0, "", fmt.Errorf("data: %s: %w: shape %v of %s needs %d bytes after the header, the file has %d",
			absPath(p), ErrTruncated, h.shape, h.descr, want-int64(hb), fi.Size()-int64(hb))
	}
	if fi.Size() > want {
		return shard{}, 0, "", bad("%d bytes after the data of shape %v %s", fi.Size()-want, h.shape, h.descr)
	}
	return shard{path: p, header: hb, rows: n}, dim, h.descr, nil
}

func npyItemSize(descr string) int {
	switch descr {
	case "<f4":
		return 4
	case "<f2":
		return 2
	}
	return 0
}

// Rows is the number of rows in all shards (one epoch).
func (s *Stream) Rows() int { return s.rows }

// Dim is the number of features of a row.
func (s *Stream) Dim() int { return s.dim }

// Dtype is the shards' element type: numpy's "<f4" or "<f2" (npy), or
// "list<float32>" or "list<float16>" (parquet).
func (s *Stream) Dtype() string { return s.dtype }

// Format is the kind of shard: "npy" or "parquet".
func (s *Stream) Format() string { return s.format }

// Shards is the number of shards.
func (s *Stream) Shards() int { return len(s.shards) }

// ChunkRows is the most rows a chunk holds.
func (s *Stream) ChunkRows() int { return s.chunk }

// Source names the folder, for messages.
func (s *Stream) Source() string { return absPath(s.dir) }

// ShardOrder is the order in which epoch reads the shards (indices into the shards
// in name order).
func (s *Stream) ShardOrder(epoch int) []int {
	if !s.opts.Shuffle {
		order := make([]int, len(s.shards))
		for i := range order {
			order[i] = i
		}
		return order
	}
	return rand.New(rand.NewPCG(s.opts.Seed, uint64(epoch)^0x5a4d5f0e)).Perm(len(s.shards))
}

// CheckPosition refuses a position the stream does not have (a checkpoint's, when the
// folder changed since it was written).
func (s *Stream) CheckPosition(p Position) error {
	if p.Epoch < 1 || p.Shard < 0 || p.Shard >= len(s.shards) || p.Offset < 0 {
		return fmt.Errorf("data: %s: position %+v does not exist (epoch from 1, shard in [0, %d), offset >= 0)", s.Source(), p, len(s.shards))
	}
	sh := s.shards[s.ShardOrder(p.Epoch)[p.Shard]]
	if p.Offset >= sh.rows {
		return fmt.Errorf("data: %s: position %+v: shard %s has %d rows", s.Source(), p, absPath(sh.path), sh.rows)
	}
	return nil
}

// fill reads the chunk that starts at p into buf (len >= ChunkRows()*Dim).
func (r *Reader) fill(p Position, buf []float32) (Chunk, error) {
	s := r.s
	order := s.ShardOrder(p.Epoch)
	c := Chunk{At: p}
	q := p
	for c.N < s.chunk && q.Shard < len(order) {
		sh := &s.shards[order[q.Shard]]
		m := min(s.chunk-c.N, sh.rows-q.Offset)
		dst := buf[c.N*s.dim : (c.N+m)*s.dim]
		var err error
		if sh.pq != nil {
			err = r.pq.read(sh, q.Offset, dst, s.dim)
		} else {
			err = s.readRows(sh, q.Offset, dst)
		}
		if err != nil {
			return c, err
		}
		c.N += m
		q.Offset += m
		if q.Offset == sh.rows {
			q.Shard, q.Offset = q.Shard+1, 0
		}
	}
	if q.Shard == len(order) {
		q = Position{Epoch: p.Epoch + 1}
	}
	c.Next = q
	c.X = buf[:c.N*s.dim]
	if s.opts.Shuffle {
		s.permute(c, r.tmp)
	}
	return c, nil
}

// permute shuffles a chunk's rows in place, with a generator seeded by the seed and
// the chunk's position; tmp holds a row.
func (s *Stream) permute(c Chunk, tmp []float32) {
	r := rand.New(rand.NewPCG(s.opts.Seed^uint64(c.At.Epoch)<<40, uint64(c.At.Shard)<<32^uint64(c.At.Offset)))
	D := s.dim
	for i := c.N - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		copy(tmp, c.X[i*D:(i+1)*D])
		copy(c.X[i*D:(i+1)*D], c.X[j*D:(j+1)*D])
		copy(c.X[j*D:(j+1)*D], tmp)
	}
}

// readRows reads len(dst)/Dim rows of the .npy shard sh from row off into dst,
// converting float16, and checks that every value is finite. Errors name the shard.
func (s *Stream) readRows(sh *shard, off int, dst []float32) error {
	f, err := os.Open(sh.path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	item := npyItemSize(s.dtype)
	r := io.NewSectionReader(f, int64(sh.header)+int64(off)*int64(s.dim)*int64(item), int64(len(dst))*int64(item))
	if item == 4 {
		if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)*4)); err != nil {
			return fmt.Errorf("data: %s: %w (reading rows %d to %d of %d; did the file change while training?)",
				absPath(sh.path), classifyReadError(err), off, off+len(dst)/s.dim, sh.rows)
		}
		if !littleEndian {
			for i, v := range dst {
				dst[i] = math.Float32frombits(bswap32(math.Float32bits(v)))
			}
		}
	} else {
		buf := make([]byte, 1<<16)
		for o := 0; o < len(dst); {
			m := min(len(buf)/2, len(dst)-o)
			if _, err := io.ReadFull(r, buf[:2*m]); err != nil {
				return fmt.Errorf("data: %s: %w (reading rows %d to %d of %d; did the file change while training?)",
					absPath(sh.path), classifyReadError(err), off, off+len(dst)/s.dim, sh.rows)
			}
			for i := range m {
				dst[o+i] = float16to32(binary.LittleEndian.Uint16(buf[2*i:]))
			}
			o += m
		}
	}
	if i := firstNonFinite(dst); i >= 0 {
		return fmt.Errorf("data: %s: %w: row %d, column %d is %v; every value must be finite",
			absPath(sh.path), ErrBadFormat, off+i/s.dim, i%s.dim, dst[i])
	}
	return nil
}

// Reader yields a stream's chunks from a position to the end of an epoch, reading
// the next chunk in the background while the caller uses the current one.
type Reader struct {
	s      *Stream
	bufs   [][]float32
	out    chan result
	free   chan int // indices of the buffers free to fill
	cancel context.CancelFunc
	done   chan struct{}
	last   int // the buffer of the chunk Next returned last; -1: none
	tmp    []float32
	pq     pqCursor // the parquet shard being read (prefetch goroutine only)
}

type result struct {
	c   Chunk
	err error
}

// Read starts a Reader at from that stops after the last chunk of epoch lastEpoch,
// with two buffers of its own. Close it when done.
func (s *Stream) Read(from Position, lastEpoch int) (*Reader, error) {
	return s.ReadInto(from, lastEpoch, [][]float32{make([]float32, s.chunk*s.dim), make([]float32, s.chunk*s.dim)})
}

// ReadInto starts a Reader at from that stops after the last chunk of epoch lastEpoch
// and fills bufs in turn (each at least ChunkRows()*Dim() long): a chunk's X is
// bufs[Chunk.Buf]. With one buffer nothing is read ahead; two let the next chunk be
// read while the caller uses the current one. Close it when done; the buffers are the
// caller's again after Close.
func (s *Stream) ReadInto(from Position, lastEpoch int, bufs [][]float32) (*Reader, error) {
	if err := s.CheckPosition(from); err != nil {
		return nil, err
	}
	if len(bufs) == 0 {
		return nil, fmt.Errorf("data: stream of %s: no buffer to read into", s.Source())
	}
	for _, b := range bufs {
		if len(b) < s.chunk*s.dim {
			return nil, fmt.Errorf("data: stream of %s: a buffer of %d values holds less than a chunk (%d rows of %d)", s.Source(), len(b), s.chunk, s.dim)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{s: s, bufs: bufs, out: make(chan result, 1), free: make(chan int, len(bufs)), cancel: cancel,
		done: make(chan struct{}), last: -1, tmp: make([]float32, s.dim)}
	for i := range bufs {
		r.free <- i
	}
	go r.prefetch(ctx, from, lastEpoch)
	return r, nil
}

func (r *Reader) prefetch(ctx context.Context, p Position, lastEpoch int) {
	defer close(r.done)
	defer close(r.out)
	defer r.pq.close()
	for p.Epoch <= lastEpoch {
		var i int
		select {
		case i = <-r.free:
		case <-ctx.Done():
			return
		}
		c, err := r.fill(p, r.bufs[i])
		c.Buf = i
		select {
		case r.out <- result{c, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		p = c.Next
	}
}

// Next returns the next chunk; its X stays valid until the following call of Next
// (its buffer is then refilled). After the last chunk it returns ErrStreamExhausted.
func (r *Reader) Next() (Chunk, error) {
	if r.last >= 0 {
		r.free <- r.last
		r.last = -1
	}
	res, ok := <-r.out
	if !ok {
		return Chunk{}, ErrStreamExhausted
	}
	if res.err != nil {
		return Chunk{}, res.err
	}
	r.last = res.c.Buf
	return res.c, nil
}

// Close stops the prefetching and waits for it.
func (r *Reader) Close() {
	r.cancel()
	<-r.done
}
