package data

import "github.com/sparselab/saerun/pkg/spec"

// NoLabel is the label of a row that has none (a synthetic vector, a parquet or npy
// row without a label column, a null label): the value the results tables already
// use for generated images. A label that does not exist is never 0.
const NoLabel = -1

// Set is a block of examples: N rows of Dim float32 features, row-major, with labels.
// Image sets (digits, MNIST, Fashion-MNIST) hold pixels in [0,1] and their image shape;
// vector sets (parquet, npy, synthetic) hold any finite values and Height = Width = 0.
type Set struct {
	X             []float32 // N*Dim
	Labels        []int32   // N; NoLabel (-1) where a row has no label
	N, Dim        int
	Height, Width int // image shape (8x8 or 28x28), Height*Width == Dim; 0, 0 when rows are not images
	// Source names where the rows came from (a file or folder, "synthetic"), for
	// errors found after loading, such as a split too small to train on.
	Source string
}

// The fewest rows a run can use: the training loop needs a row, and the validation
// explained variance (1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖²) compares rows with their mean,
// which one row does not define. A vector set, split into both, needs MinRows; Split
// refuses less, naming the set's Source.
// The spec declares them (it refuses a max_validation_samples below the minimum).
const (
	MinTrainRows      = spec.MinTrainRows
	MinValidationRows = spec.MinValidationRows
	MinRows           = MinTrainRows + MinValidationRows
)

// IsImage reports whether the rows are images (Height*Width == Dim > 0).
func (s *Set) IsImage() bool { return s.Height > 0 && s.Width > 0 && s.Height*s.Width == s.Dim }

// OutsideUnitInterval finds the first value of s outside [0,1] (a loss such as bce
// needs every target there): its row, feature and value, and ok = true; ok = false
// when every value lies in [0,1].
func (s *Set) OutsideUnitInterval() (row, feature int, v float32, ok bool) {
	for i, x := range s.X {
		if !(x >= 0 && x <= 1) {
			return i / s.Dim, i % s.Dim, x, true
		}
	}
	return 0, 0, 0, false
}

// Row returns row i of s.X (a view, not a copy).
func (s *Set) Row(i int) []float32 {
	return s.X[i*s.Dim : (i+1)*s.Dim : (i+1)*s.Dim]
}

// Subset returns a new Set holding copies of the rows idx, in the given order.
// It panics if an index is out of range.
func (s *Set) Subset(idx []int) *Set {
	out := s.emptyLike(len(idx))
	for j, i := range idx {
		copy(out.X[j*s.Dim:(j+1)*s.Dim], s.Row(i))
		out.Labels[j] = s.Labels[i]
	}
	return out
}

// Head returns the first n rows of s (n is clipped to [0, s.N]). The result
// shares its backing arrays with s; use Subset for an independent copy.
func (s *Set) Head(n int) *Set {
	n = min(max(n, 0), s.N)
	return &Set{
		X:      s.X[: n*s.Dim : n*s.Dim],
		Labels: s.Labels[:n:n],
		N:      n, Dim: s.Dim,
		Height: s.Height, Width: s.Width,
		Source: s.Source,
	}
}

// emptyLike allocates a zeroed Set of n rows with the shape of s.
func (s *Set) emptyLike(n int) *Set {
	return &Set{
		X:      make([]float32, n*s.Dim),
		Labels: make([]int32, n),
		N:      n, Dim: s.Dim,
		Height: s.Height, Width: s.Width,
		Source: s.Source,
	}
}

// unlabelled returns n labels, all NoLabel.
func unlabelled(n int) []int32 {
	l := make([]int32, n)
	for i := range l {
		l[i] = NoLabel
	}
	return l
}
