package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

// NPYDtypes are the element types LoadNPY accepts (numpy's descr strings).
var NPYDtypes = []string{"<f4", "<f2"}

// LoadNPY reads a 2-D .npy file (rows × features, C order) of little-endian float32
// ("<f4"), or float16 ("<f2", converted to float32 exactly), into a Set without
// labels. Every value must be finite. A relative path is resolved against the working
// directory.
//
// The header parser is hand-written (no Go library for .npy is pinned here, and the
// format is tiny: a magic string, a version, and a Python dict literal with descr,
// fortran_order and shape; see numpy.lib.format). The data is read straight into the
// Set's buffer.
func LoadNPY(path string) (*Set, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data: %w: %s (a relative path is resolved against the working directory)", ErrNotFound, absPath(path))
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("data: %s: %w: %s", absPath(path), ErrBadFormat, fmt.Sprintf(format, args...))
	}
	r := bufio.NewReaderSize(f, 1<<20)
	h, headerBytes, err := readNPYHeader(r)
	if err != nil {
		return nil, bad("%v", err)
	}
	if h.fortran {
		return nil, bad("Fortran (column-major) order; allowed: C order (write np.ascontiguousarray(x))")
	}
	if len(h.shape) != 2 {
		return nil, bad("shape %v; allowed: 2-D (rows, features)", h.shape)
	}
	itemSize := map[string]int{"<f4": 4, "<f2": 2}[h.descr]
	if itemSize == 0 {
		return nil, bad("dtype %q; allowed: %s (float32; float16 is converted exactly; convert others with x.astype(np.float32))",
			h.descr, strings.Join(NPYDtypes, ", "))
	}
	n, dim := h.shape[0], h.shape[1]
	if n < 1 || dim < 1 {
		return nil, bad("shape %v: no data", h.shape)
	}
	if dim > math.MaxInt32 || n > math.MaxInt/dim/4 {
		return nil, bad("shape %v is too large", h.shape)
	}
	want := int64(headerBytes) + int64(n*dim*itemSize)
	if fi.Size() < want {
		return nil, fmt.Errorf("data: %s: %w: shape %v of %s needs %d bytes after the header, the file has %d",
			absPath(path), ErrTruncated, h.shape, h.descr, n*dim*itemSize, fi.Size()-int64(headerBytes))
	}
	if fi.Size() > want {
		return nil, bad("%d bytes after the data of shape %v %s", fi.Size()-want, h.shape, h.descr)
	}
	x := make([]float32, n*dim)
	if itemSize == 4 {
		if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x)*4)); err != nil {
			return nil, fileError(path, classifyReadError(err))
		}
		if !littleEndian {
			for i, v := range x {
				x[i] = math.Float32frombits(bswap32(math.Float32bits(v)))
			}
		}
	} else {
		buf := make([]byte, 1<<16)
		for off := 0; off < len(x); {
			m := min(len(buf)/2, len(x)-off)
			if _, err := io.ReadFull(r, buf[:2*m]); err != nil {
				return nil, fileError(path, classifyReadError(err))
			}
			for i := range m {
				x[off+i] = float16to32(binary.LittleEndian.Uint16(buf[2*i:]))
			}
			off += m
		}
	}
	for i, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return nil, bad("row %d, column %d is %v; every value must be finite", i/dim, i%dim, v)
		}
	}
	return &Set{X: x, Labels: unlabelled(n), N: n, Dim: dim, Source: absPath(path)}, nil
}

// npyHeader is what LoadNPY needs of a .npy header.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

var (
	npyMagic   = "\x93NUMPY"
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// readNPYHeader reads the magic string, version and header dict of a .npy stream
// (format versions 1, 2 and 3), returning the header and its total length in bytes.
func readNPYHeader(r io.Reader) (npyHeader, int, error) {
	var h npyHeader
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil || string(pre[:6]) != npyMagic {
		return h, 0, fmt.Errorf("not a .npy file (no \\x93NUMPY magic string)")
	}
	var hlen, total int
	switch pre[6] {
	case 1:
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return h, 0, fmt.Errorf("the header ends early")
		}
		hlen, total = int(binary.LittleEndian.Uint16(b)), 10
	case 2, 3:
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return h, 0, fmt.Errorf("the header ends early")
		}
		hlen, total = int(binary.LittleEndian.Uint32(b)), 12
	default:
		return h, 0, fmt.Errorf(".npy format version %d.%d; allowed: 1.x, 2.x, 3.x", pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return h, 0, fmt.Errorf("header of %d bytes is implausibly large", hlen)
	}
	b := make([]byte, hlen)
	if _, err := io.ReadFull(r, b); err != nil {
		return h, 0, fmt.Errorf("the header ends early")
	}
	total += hlen
	dict := string(b)
	m := npyDescr.FindStringSubmatch(dict)
	if m == nil {
		return h, 0, fmt.Errorf("header %q has no simple dtype (a structured array?); allowed: %s", strings.TrimSpace(dict), strings.Join(NPYDtypes, ", "))
	}
	h.descr = m[1]
	if m = npyFortran.FindStringSubmatch(dict); m == nil {
		return h, 0, fmt.Errorf("header %q has no fortran_order", strings.TrimSpace(dict))
	}
	h.fortran = m[1] == "True"
	if m = npyShape.FindStringSubmatch(dict); m == nil {
		return h, 0, fmt.Errorf("header %q has no shape", strings.TrimSpace(dict))
	}
	for _, p := range strings.Split(m[1], ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		d, err := strconv.Atoi(strings.TrimSuffix(p, "L"))
		if err != nil || d < 0 {
			return h, 0, fmt.Errorf("header shape (%s) is not a tuple of sizes", m[1])
		}
		h.shape = append(h.shape, d)
	}
	return h, total, nil
}

// float16to32 converts an IEEE 754 half-precision value to float32 exactly (every
// half value, subnormals included, is a float32 value).
func float16to32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// subnormal half: frac · 2^-24, normal in float32
	e := uint32(113) // 127 - 14
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func bswap32(v uint32) uint32 {
	return v>>24 | (v>>8)&0xff00 | (v<<8)&0xff0000 | v<<24
}
