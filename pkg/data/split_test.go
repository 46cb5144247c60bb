package data

import (
	"math"
	"slices"
	"testing"
)

// ids returns the labels of s as ints; with counting(), label i marks row i.
func ids(s *Set) []int {
	out := make([]int, s.N)
	for i, l := range s.Labels {
		out[i] = int(l)
	}
	return out
}

func TestSplitSizes(t *testing.T) {
	tests := []struct {
		n        int
		fraction float64
		wantVal  int
	}{
		{100, 0, 0},
		{100, 0.1, 10},
		{100, 0.25, 25},
		{10, 0.15, 2}, // round(1.5) = 2
		{7, 0.5, 4},   // round(3.5) = 4
		{1, 0.4, 0},
		{0, 0.5, 0},
	}
	for _, tt := range tests {
		train, val, err := Split(counting(tt.n, 2), tt.fraction, 1)
		if err != nil {
			t.Fatalf("Split(n=%d, %v): %v", tt.n, tt.fraction, err)
		}
		if val.N != tt.wantVal || train.N != tt.n-tt.wantVal {
			t.Errorf("Split(n=%d, %v): train %d, validation %d; want %d, %d",
				tt.n, tt.fraction, train.N, val.N, tt.n-tt.wantVal, tt.wantVal)
		}
	}
}

func TestSplitBadArguments(t *testing.T) {
	tests := []struct {
		name     string
		s        *Set
		fraction float64
	}{
		{"nil set", nil, 0.1},
		{"negative", counting(5, 1), -0.1},
		{"one", counting(5, 1), 1},
		{"above one", counting(5, 1), 1.5},
		{"NaN", counting(5, 1), math.NaN()},
	}
	for _, tt := range tests {
		if _, _, err := Split(tt.s, tt.fraction, 1); err == nil {
			t.Errorf("%s: Split succeeded, want an error", tt.name)
		}
	}
}

func TestSplitPartitionAndDeterminism(t *testing.T) {
	s := counting(200, 3)
	train, val, err := Split(s, 0.2, 42)
	if err != nil {
		t.Fatal(err)
	}
	all := append(ids(train), ids(val)...)
	slices.Sort(all)
	for i, id := range all {
		if id != i {
			t.Fatalf("train ∪ validation is not a partition of the rows: sorted ids %v", all)
		}
	}
	for i := range train.N { // rows travel with their labels
		if train.Row(i)[0] != float32(train.Labels[i])/100 {
			t.Fatalf("train row %d does not match its label %d", i, train.Labels[i])
		}
	}

	train2, val2, _ := Split(s, 0.2, 42)
	if !slices.Equal(ids(train), ids(train2)) || !slices.Equal(ids(val), ids(val2)) {
		t.Error("Split with the same seed gave different splits")
	}
	if slices.IsSorted(ids(val)) {
		t.Error("validation rows are sorted; want permutation order")
	}

	_, val3, _ := Split(s, 0.2, 43)
	if slices.Equal(ids(val), ids(val3)) {
		t.Error("Split with seeds 42 and 43 gave the same validation set")
	}
}
