// Command recovery writes a synthetic data set and its ground-truth features as raw
// little-endian float32 files (x.f32, f.f32) for recovery.py:
//
//	go run ./pkg/data/testdata/recovery DIM FEATURES SAMPLES ACTIVE SEED OUTDIR
package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sparselab/saerun/pkg/data"
)

func write(path string, x []float32) {
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	os.WriteFile(path, b, 0o644)
}

func main() {
	a := func(i int) int { v, _ := strconv.Atoi(os.Args[i]); return v }
	c := data.SyntheticConfig{Dim: a(1), Features: a(2), Samples: a(3), Active: a(4), Seed: int64(a(5))}
	s, err := data.Synthetic(c)
	if err != nil {
		panic(err)
	}
	f, _ := data.SyntheticFeatures(c)
	write(filepath.Join(os.Args[6], "x.f32"), s.X)
	write(filepath.Join(os.Args[6], "f.f32"), f)
}
