// Package npytest builds .npy files for tests as numpy writes them (format 1.0, the
// header padded with spaces to a multiple of 64 bytes, C order, little-endian), so that
// the tests of the loaders, the stream, training and the runner make their fixtures
// one way. A test that needs a malformed file forges it by hand.
package npytest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

// Header is the header of a 2-D .npy array of rows × dim elements of descr ("<f4",
// "<f2", ...); the values follow it.
func Header(descr string, rows, dim int) []byte {
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, rows, dim)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	out := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(out[8:], uint16(len(h)))
	return append(out, h...)
}

// Float32 is a whole "<f4" .npy file of the first rows × dim values of x (row-major).
func Float32(x []float32, rows, dim int) []byte {
	out := slices.Grow(Header("<f4", rows, dim), 4*rows*dim)
	for _, v := range x[:rows*dim] {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

// Write writes Float32(x, rows, dim) to path; an error fails t.
func Write(t testing.TB, path string, x []float32, rows, dim int) {
	t.Helper()
	if err := os.WriteFile(path, Float32(x, rows, dim), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Of is the rows × dim values f(i, j), row-major.
func Of(rows, dim int, f func(i, j int) float32) []float32 {
	x := make([]float32, 0, rows*dim)
	for i := range rows {
		for j := range dim {
			x = append(x, f(i, j))
		}
	}
	return x
}
