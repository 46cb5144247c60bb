package data

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// idxBytes builds an unsigned-byte IDX file with the given dimensions and data.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, idxTypeUbyte, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// fixture is a tiny synthetic IDX dataset: uncompressed files and their MD5s.
type fixture struct {
	files map[string][]byte
	sums  fileSums
}

// newFixture makes nTrain and nTest 3×2 images; pixel j of image i is
// (i*6+j) mod 256 and the label of image i is i mod 10.
func newFixture(nTrain, nTest int) fixture {
	const h, w = 3, 2
	images := func(n int) []byte {
		b := make([]byte, n*h*w)
		for i := range b {
			b[i] = byte(i)
		}
		return idxBytes([]int{n, h, w}, b)
	}
	labels := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i % 10)
		}
		return idxBytes([]int{n}, b)
	}
	fx := fixture{files: map[string][]byte{
		trainImagesFile: images(nTrain),
		trainLabelsFile: labels(nTrain),
		testImagesFile:  images(nTest),
		testLabelsFile:  labels(nTest),
	}, sums: fileSums{}}
	for f, b := range fx.files {
		fx.sums[f] = md5Hex(b)
	}
	return fx
}

// write stores the fixture in dir/name/, gzipped or not.
func (fx fixture) write(t testing.TB, dir, name string, gz bool) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, b := range fx.files {
		if gz {
			f, b = f+".gz", gzipBytes(t, b)
		}
		if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// listDir returns the names in dir (nil if it does not exist).
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
