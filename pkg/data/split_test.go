package data

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
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
		{100, 0.1, 10},
		{100, 0.25, 25},
		{10, 0.15, 2}, // round(1.5) = 2
		{7, 0.5, 4},   // round(3.5) = 4
		{3, 0.5, 2},   // the smallest set a run can use: 1 to train, 2 to validate
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

// TestSplitRefusesSetsTooSmallToTrainAndValidate: 0-, 1- and 2-row sets, and splits
// leaving fewer than 2 validation rows (the explained variance needs a mean to compare
// with) or no training row, are refused here, naming the set's source and the minimum,
// instead of failing in the middle of a run.
func TestSplitRefusesSetsTooSmallToTrainAndValidate(t *testing.T) {
	tests := []struct {
		n        int
		fraction float64
		want     string
	}{
		{0, 0.5, "0 training and 0 validation rows"},
		{1, 0.2, "1 training and 0 validation rows"},
		{1, 0.9, "0 training and 1 validation rows"},
		{2, 0.2, "2 training and 0 validation rows"},
		{2, 0.5, "1 training and 1 validation rows"},
		{2, 0.9, "0 training and 2 validation rows"},
		{100, 0, "100 training and 0 validation rows"},
		{7, 0.2, "6 training and 1 validation rows"},
		{3, 0.9, "0 training and 3 validation rows"},
	}
	for _, tt := range tests {
		s := counting(tt.n, 2)
		s.Source = "/data/acts.parquet"
		_, _, err := Split(s, tt.fraction, 1)
		if err == nil {
			t.Errorf("Split(n=%d, %v) succeeded", tt.n, tt.fraction)
			continue
		}
		for _, w := range []string{"/data/acts.parquet", tt.want, "at least 1 and 2"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Split(n=%d, %v): %q does not say %q", tt.n, tt.fraction, err, w)
			}
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

// TestTwoRowFileIsRefusedAtSplitNamingTheFile: a 2-row .npy file loads, and its split
// is refused with the file's path (not an empty validation set in the middle of a run).
func TestTwoRowFileIsRefusedAtSplitNamingTheFile(t *testing.T) {
	full, err := LoadNPY(vecFixture("f4.npy")) // 5 rows
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Split(full.Head(2), 0.2, 1); err == nil || !strings.Contains(err.Error(), filepath.Join("testdata", "vectors", "f4.npy")) {
		t.Errorf("split of 2 rows of f4.npy: %v, want an error naming the file", err)
	}
	if tr, val, err := Split(full, 0.4, 1); err != nil || tr.N != 3 || val.N != 2 || val.Source != full.Source {
		t.Errorf("split of 5 rows: %v (train %v, validation %v)", err, tr, val)
	}
}
