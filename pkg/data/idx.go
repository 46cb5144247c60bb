package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX files (the MNIST format) start with the magic 0x00 0x00 <type> <ndims>,
// then ndims big-endian uint32 sizes, then the data, row-major.
const (
	idxTypeUbyte = 0x08
	maxIDXBytes  = 1 << 28 // refuse headers claiming absurd sizes before allocating
)

// byteToUnit maps a pixel byte 0..255 to its float32 value in [0,1].
var byteToUnit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// images is the content of an idx3 image file.
type images struct {
	x       []float32
	n, h, w int
}

// readIDX reads the header of an unsigned-byte IDX file with ndims
// dimensions from r, calls body to read the data, and checks that nothing
// follows it.
func readIDX(r io.Reader, ndims int, body func(dims []int, r io.Reader) error) error {
	hdr := make([]byte, 4+4*ndims)
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return fmt.Errorf("reading the IDX header: %w", classifyReadError(err))
	}
	if hdr[0] != 0 || hdr[1] != 0 || hdr[2] != idxTypeUbyte || int(hdr[3]) != ndims {
		return fmt.Errorf("%w: bad IDX magic number 0x%08x, want 0x%08x (unsigned bytes, %d dimensions)",
			ErrBadFormat, binary.BigEndian.Uint32(hdr), idxTypeUbyte<<8|ndims, ndims)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return fmt.Errorf("reading the IDX header: %w", classifyReadError(err))
	}
	dims := make([]int, ndims)
	total := 1
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(hdr[4+4*i:]))
		total *= dims[i]
		if dims[i] == 0 || total > maxIDXBytes {
			return fmt.Errorf("%w: implausible IDX dimensions %v", ErrBadFormat, dims[:i+1])
		}
	}
	if sr, ok := r.(interface{ maxPayload() int64 }); ok {
		// The header is read: the data must still fit in what the file can hold.
		if avail := sr.maxPayload() - int64(len(hdr)); int64(total) > avail {
			return fmt.Errorf("%w: the IDX header claims dimensions %v (%d bytes of data), more than the file can hold (at most %d)",
				ErrTruncated, dims, total, max(avail, 0))
		}
	}
	if err := body(dims, r); err != nil {
		return err
	}
	extra, err := io.Copy(io.Discard, r)
	if err != nil {
		return classifyReadError(err)
	}
	if extra > 0 {
		return fmt.Errorf("%w: %d unexpected bytes after the IDX data", ErrBadFormat, extra)
	}
	return nil
}

// readImages reads an idx3 file of n images of h×w pixels, scaled to [0,1].
func readImages(r io.Reader) (*images, error) {
	var im images
	err := readIDX(r, 3, func(dims []int, r io.Reader) error {
		im = images{x: make([]float32, dims[0]*dims[1]*dims[2]), n: dims[0], h: dims[1], w: dims[2]}
		buf := make([]byte, 1<<16)
		for off := 0; off < len(im.x); {
			k, err := io.ReadFull(r, buf[:min(len(buf), len(im.x)-off)])
			src := buf[:k]
			dst := im.x[off : off+len(src)]
			for i, b := range src {
				dst[i] = byteToUnit[b]
			}
			off += k
			if err != nil {
				return payloadShort(err, off, len(im.x), "pixel")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &im, nil
}

// readLabels reads an idx1 file of labels.
func readLabels(r io.Reader) ([]uint8, error) {
	var labels []uint8
	err := readIDX(r, 1, func(dims []int, r io.Reader) error {
		labels = make([]uint8, dims[0])
		n, err := io.ReadFull(r, labels)
		if err != nil {
			return payloadShort(err, n, len(labels), "label")
		}
		return nil
	})
	return labels, err
}

// payloadShort describes a read error after got of want data bytes.
func payloadShort(err error, got, want int, what string) error {
	err = classifyReadError(err)
	if errors.Is(err, ErrTruncated) {
		return fmt.Errorf("%w: the data ends after %d of %d %s bytes", ErrTruncated, got, want, what)
	}
	return err
}
