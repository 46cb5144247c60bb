package data

import (
	"slices"
	"testing"
)

// counting returns a Set of n rows of dim values; row i is all i/100, label i.
func counting(n, dim int) *Set {
	s := &Set{X: make([]float32, n*dim), Labels: make([]int32, n), N: n, Dim: dim, Height: 1, Width: dim}
	for i := range n {
		for j := range dim {
			s.X[i*dim+j] = float32(i) / 100
		}
		s.Labels[i] = int32(i)
	}
	return s
}

func TestRow(t *testing.T) {
	s := counting(4, 3)
	for i := range s.N {
		if got, want := s.Row(i), []float32{float32(i) / 100, float32(i) / 100, float32(i) / 100}; !slices.Equal(got, want) {
			t.Errorf("Row(%d) = %v, want %v", i, got, want)
		}
	}
	if r := s.Row(1); cap(r) != s.Dim {
		t.Errorf("cap(Row(1)) = %d, want %d (appending must not clobber the next row)", cap(r), s.Dim)
	}
}

func TestSubset(t *testing.T) {
	tests := []struct {
		name string
		idx  []int
	}{
		{"empty", nil},
		{"one", []int{2}},
		{"reordered", []int{3, 0, 2}},
		{"repeated", []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := counting(4, 3)
			sub := s.Subset(tt.idx)
			if sub.N != len(tt.idx) || len(sub.X) != len(tt.idx)*s.Dim || len(sub.Labels) != len(tt.idx) {
				t.Fatalf("shape N=%d len(X)=%d len(Labels)=%d, want %d rows", sub.N, len(sub.X), len(sub.Labels), len(tt.idx))
			}
			if sub.Dim != s.Dim || sub.Height != s.Height || sub.Width != s.Width {
				t.Errorf("shape %d (%dx%d), want %d (%dx%d)", sub.Dim, sub.Height, sub.Width, s.Dim, s.Height, s.Width)
			}
			for j, i := range tt.idx {
				if !slices.Equal(sub.Row(j), s.Row(i)) || sub.Labels[j] != s.Labels[i] {
					t.Errorf("row %d = %v/%d, want row %d = %v/%d", j, sub.Row(j), sub.Labels[j], i, s.Row(i), s.Labels[i])
				}
			}
			if len(tt.idx) > 0 {
				sub.X[0] = -1
				if s.X[tt.idx[0]*s.Dim] == -1 {
					t.Error("Subset shares memory with its source")
				}
			}
		})
	}
}

func TestHead(t *testing.T) {
	tests := []struct{ n, want int }{{-1, 0}, {0, 0}, {2, 2}, {4, 4}, {9, 4}}
	for _, tt := range tests {
		s := counting(4, 3)
		h := s.Head(tt.n)
		if h.N != tt.want || len(h.X) != tt.want*s.Dim || len(h.Labels) != tt.want {
			t.Errorf("Head(%d): N=%d len(X)=%d len(Labels)=%d, want %d rows", tt.n, h.N, len(h.X), len(h.Labels), tt.want)
			continue
		}
		if !slices.Equal(h.X, s.X[:tt.want*s.Dim]) || !slices.Equal(h.Labels, s.Labels[:tt.want]) {
			t.Errorf("Head(%d) holds the wrong rows", tt.n)
		}
		if cap(h.X) != len(h.X) || cap(h.Labels) != len(h.Labels) {
			t.Errorf("Head(%d): capacity exceeds length, appending would clobber the source", tt.n)
		}
	}
}
