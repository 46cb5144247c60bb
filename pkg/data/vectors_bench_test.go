package data

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/data/npytest"
)

// BenchmarkLoadVectors loads a 100,000 × 512 float32 set (205 MB of values) from a
// .npy file and from parquet files (uncompressed and snappy, written by parquet-go),
// next to os.ReadFile of the same file: loading should take about the time to read
// it. Run with
//
//	go test ./pkg/data -run '^$' -bench LoadVectors -benchtime 3x
//
// (MB/s is of the file's bytes).
func BenchmarkLoadVectors(b *testing.B) {
	const rows, dim = 100_000, 512
	dir := b.TempDir()
	x := make([]float32, rows*dim)
	for i := range x {
		x[i] = float32(math.Sin(float64(i))) // not dictionary-friendly, like activations
	}
	npy := filepath.Join(dir, "x.npy")
	writeBenchNPY(b, npy, x, rows, dim)
	files := map[string]string{"npy": npy}
	type row struct {
		Vec []float32 `parquet:"vec,list"`
	}
	for _, comp := range []string{"none", "snappy"} {
		path := filepath.Join(dir, comp+".parquet")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		opts := []parquet.WriterOption{parquet.PageBufferSize(1 << 20)}
		if comp == "snappy" {
			opts = append(opts, parquet.Compression(&parquet.Snappy))
		}
		w := parquet.NewGenericWriter[row](f, opts...)
		batch := make([]row, 1000)
		for i := 0; i < rows; i += len(batch) {
			for k := range batch {
				batch[k].Vec = x[(i+k)*dim : (i+k+1)*dim]
			}
			if _, err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		files["parquet-"+comp] = path
	}
	for _, name := range []string{"npy", "parquet-none", "parquet-snappy"} {
		path := files[name]
		fi, _ := os.Stat(path)
		b.Run(name+"/read-file", func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				if _, err := os.ReadFile(path); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/load", func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				var s *Set
				var err error
				if name == "npy" {
					s, err = LoadNPY(path)
				} else {
					s, err = LoadParquet(path, ParquetOptions{})
				}
				if err != nil || s.N != rows || s.Dim != dim {
					b.Fatal(err, fmt.Sprint(s.N, s.Dim))
				}
			}
		})
	}
}

func writeBenchNPY(b *testing.B, path string, x []float32, rows, dim int) {
	npytest.Write(b, path, x, rows, dim)
}
