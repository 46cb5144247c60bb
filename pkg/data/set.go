package data

// Set is a block of examples: N rows of Dim float32 features in [0,1], row-major, with labels.
type Set struct {
	X             []float32 // N*Dim
	Labels        []uint8   // N
	N, Dim        int
	Height, Width int // image shape (8x8 or 28x28), Height*Width == Dim
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
	}
}

// emptyLike allocates a zeroed Set of n rows with the shape of s.
func (s *Set) emptyLike(n int) *Set {
	return &Set{
		X:      make([]float32, n*s.Dim),
		Labels: make([]uint8, n),
		N:      n, Dim: s.Dim,
		Height: s.Height, Width: s.Width,
	}
}
