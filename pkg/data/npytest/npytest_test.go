package npytest

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/sparselab/saerun/pkg/data"
)

// The header is numpy's (its length a multiple of 64, ending in "\n"), and what Write
// writes, pkg/data's loader reads back value for value.
func TestWrittenFileIsNumpysAndLoadsBackAsWritten(t *testing.T) {
	for _, shape := range [][2]int{{1, 1}, {3, 7}, {123456, 768}} {
		h := Header("<f4", shape[0], shape[1])
		if len(h)%64 != 0 || h[len(h)-1] != '\n' || string(h[:6]) != "\x93NUMPY" {
			t.Errorf("shape %v: header of %d bytes %q", shape, len(h), h)
		}
	}
	path := filepath.Join(t.TempDir(), "x.npy")
	x := Of(2, 3, func(i, j int) float32 { return float32(i*3+j) - 2.5 })
	Write(t, path, x, 2, 3)
	s, err := data.LoadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2 || s.Dim != 3 || !slices.Equal(s.X, x) {
		t.Errorf("loaded %d×%d %v, want 2×3 %v", s.N, s.Dim, s.X, x)
	}
}
