package data

import (
	"path/filepath"
	"strings"
	"testing"
)

func rows(n int) *Set {
	s := &Set{N: n, Dim: 1, X: make([]float32, n), Labels: make([]int32, n)}
	for i := range n {
		s.X[i] = float32(i)
	}
	return s
}

func TestPrepareSplitsCapsAndRefusesAMissingTestSet(t *testing.T) {
	full := &Dataset{Train: rows(100)}
	d, err := Prepare(full, "vectors", Selection{Validation: "split", ValidationFraction: 0.2, MaxTrainSamples: 30, MaxValidationSamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 30 || d.Validation.N != 5 {
		t.Errorf("split and capped to %d/%d rows, want 30/5", d.Train.N, d.Validation.N)
	}
	again, _ := Prepare(full, "vectors", Selection{Validation: "split", ValidationFraction: 0.2, MaxTrainSamples: 30, MaxValidationSamples: 5})
	if again.Validation.X[0] != d.Validation.X[0] || again.Train.X[7] != d.Train.X[7] {
		t.Error("the same selection held out different rows")
	}
	if _, err := Prepare(full, "vectors", Selection{Validation: "test"}); err == nil || !strings.Contains(err.Error(), "dataset vectors has no test set") {
		t.Errorf("validation: test on a set without one: %v", err)
	}
	withTest := &Dataset{Train: rows(10), Test: rows(4)}
	d, err = Prepare(withTest, "images", Selection{Validation: "test"})
	if err != nil || d.Train != withTest.Train || d.Validation != withTest.Test {
		t.Errorf("validation: test does not use the test set: %+v %v", d, err)
	}
}

// A folder of parquet shards opens as a stream (dataset.buffer) with its first chunk as
// the sample, and a held-out .parquet shard (its vectors in the same column) is the
// validation set; one of another width is refused naming both.
func TestStreamedParquetShardsWithAHeldOutParquetShard(t *testing.T) {
	dir := t.TempDir()
	copyTo(t, dir, map[string]string{"a.parquet": filepath.Join("testdata", "stream", "f16", "shard-000.parquet"),
		"b.parquet": filepath.Join("testdata", "stream", "f16", "shard-002.parquet")})
	full, err := Open(Source{Name: "parquet", Path: dir, Buffer: 3 * 4 * 3 * 5, StreamSeed: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if full.Stream == nil || full.Stream.Rows() != 19 || full.Train.N != 5 || full.Train.Dim != 3 || full.Stream.Dtype() != "list<float16>" {
		t.Fatalf("stream %+v, sample of %d rows of %d", full.Stream, full.Train.N, full.Train.Dim)
	}
	val := filepath.Join("testdata", "stream", "f32", "shard-003.parquet")
	d, err := Prepare(full, "parquet", Selection{Validation: "path", ValidationPath: val})
	if err != nil || d.Stream != full.Stream || d.Validation.N != 5 || d.Validation.X[0] != 20 {
		t.Fatalf("prepared %+v: %v", d.Validation, err)
	}
	_, err = Prepare(full, "parquet", Selection{Validation: "path", ValidationPath: filepath.Join("testdata", "stream", "wide.parquet")})
	if err == nil || !strings.Contains(err.Error(), "wide.parquet") || !strings.Contains(err.Error(), "validation rows of 4 features") {
		t.Errorf("a validation shard of another width: %v", err)
	}
}
