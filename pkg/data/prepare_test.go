package data

import (
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
