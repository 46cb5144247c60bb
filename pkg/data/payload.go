package data

import (
	"bufio"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// payload streams the uncompressed bytes of one file (gunzipped if need be)
// through an MD5 hash, so that reading it also verifies it.
//
// Gzipped files are decompressed in a background goroutine feeding an
// io.Pipe, so that decompression overlaps hashing and decoding.
type payload struct {
	f    *os.File
	gz   *gzip.Reader
	pipe *io.PipeReader
	done chan struct{} // closed when the decompressing goroutine exits
	r    io.Reader
	hash hash.Hash
	max  int64 // the most payload bytes the file can hold (see maxPayload)
}

// deflateMaxRatio bounds how many bytes deflate can expand one compressed byte into
// (258-byte matches coded in about 2 bits each, RFC 1951): a gzip file of n bytes
// holds at most about 1032n payload bytes.
const deflateMaxRatio = 1032

// maxPayload is the most payload bytes the file can hold, known before reading it:
// decoders compare what a header claims with it before allocating, so a forged
// header in a small file cannot ask for gigabytes.
func (p *payload) maxPayload() int64 { return p.max }

// openPayload opens path for reading its payload; gz says whether the file
// is gzipped.
func openPayload(path string, gz bool) (*payload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	p := &payload{f: f, hash: md5.New()}
	if fi, err := f.Stat(); err == nil {
		p.max = fi.Size()
		if gz {
			p.max *= deflateMaxRatio
		}
	} else {
		f.Close()
		return nil, err
	}
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	if gz {
		p.gz, err = gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, classifyReadError(err)
		}
		pr, pw := io.Pipe()
		p.pipe, p.done = pr, make(chan struct{})
		go func() {
			defer close(p.done)
			_, err := io.CopyBuffer(pw, p.gz, make([]byte, 256<<10))
			pw.CloseWithError(err) // nil: the reader sees io.EOF
		}()
		r = pr
	}
	p.r = io.TeeReader(r, p.hash)
	return p, nil
}

func (p *payload) Read(b []byte) (int, error) { return p.r.Read(b) }

// Close stops the decompressing goroutine, if any, and closes the file.
func (p *payload) Close() error {
	if p.pipe != nil {
		p.pipe.Close() // unblocks the goroutine's next write
		<-p.done
	}
	if p.gz != nil {
		p.gz.Close()
	}
	return p.f.Close()
}

// checkMD5 compares the hash of everything read so far with want (hex).
func (p *payload) checkMD5(want string) error {
	got := hex.EncodeToString(p.hash.Sum(nil))
	if got != want {
		return fmt.Errorf("%w: MD5 of the uncompressed payload is %s, want %s; "+
			"the file is corrupted or is not the canonical one", ErrChecksum, got, want)
	}
	return nil
}

// isGzip reports whether path names a gzipped file.
func isGzip(path string) bool { return strings.HasSuffix(path, ".gz") }

// verifyFile reads the whole payload of path and checks its MD5.
// Errors do not name path; callers add it.
func verifyFile(path string, gz bool, wantMD5 string) error {
	return verifyPayload(path, gz, wantMD5, -1)
}

// verifyPayload is verifyFile reading at most size+1 payload bytes (size < 0: no
// bound), so that a gzip bomb is refused after size bytes rather than inflated.
func verifyPayload(path string, gz bool, wantMD5 string, size int64) error {
	p, err := openPayload(path, gz)
	if err != nil {
		return err
	}
	defer p.Close()
	var r io.Reader = p
	if size >= 0 {
		r = io.LimitReader(p, size+1)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return classifyReadError(err)
	}
	if size >= 0 && n > size {
		return fmt.Errorf("%w: the payload is longer than the canonical file's %d bytes", ErrChecksum, size)
	}
	return p.checkMD5(wantMD5)
}
