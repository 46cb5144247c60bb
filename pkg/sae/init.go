package sae

import "math"

// MedianRows caps the rows GeometricMedian reads: the median of the first 32,768
// training rows (the training set is in a random order of the data's rows only when
// the data was written so; a cap keeps the start-up time bounded on large sets).
const MedianRows = 32768

// Mean returns the mean row of x (n rows of d), in float64 sums.
func Mean(x []float32, n, d int) []float32 {
	s := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			s[j] += float64(v)
		}
	}
	out := make([]float32, d)
	for j := range s {
		out[j] = float32(s[j] / float64(n))
	}
	return out
}

// GeometricMedian returns the point minimising the sum of Euclidean distances to the
// first min(n, MedianRows) rows of x (n rows of d), by Weiszfeld's iterations from the
// mean (at most 100, until the point moves less than 1e-6 of its norm): SAELens' and
// OpenAI's b_dec initialisation, robust to outlying rows where the mean is not.
func GeometricMedian(x []float32, n, d int) []float32 {
	n = min(n, MedianRows)
	m := make([]float64, d)
	for j, v := range Mean(x, n, d) {
		m[j] = float64(v)
	}
	next := make([]float64, d)
	for iter := 0; iter < 100; iter++ {
		clear(next)
		wsum := 0.0
		for i := 0; i < n; i++ {
			row := x[i*d : (i+1)*d]
			dist := 0.0
			for j, v := range row {
				diff := float64(v) - m[j]
				dist += diff * diff
			}
			w := 1 / math.Max(math.Sqrt(dist), 1e-12)
			wsum += w
			for j, v := range row {
				next[j] += w * float64(v)
			}
		}
		moved, norm := 0.0, 0.0
		for j := range next {
			next[j] /= wsum
			moved += (next[j] - m[j]) * (next[j] - m[j])
			norm += next[j] * next[j]
		}
		m, next = next, m
		if math.Sqrt(moved) <= 1e-6*math.Max(math.Sqrt(norm), 1e-12) {
			break
		}
	}
	out := make([]float32, d)
	for j, v := range m {
		out[j] = float32(v)
	}
	return out
}

// NormalizingScale is the factor c with mean ‖c·x‖² = 1 over the rows of x (n rows of
// d): 1/√(mean ‖x‖²). It is 1 for an all-zero x.
func NormalizingScale(x []float32, n, d int) float64 {
	s := 0.0
	for _, v := range x[:n*d] {
		s += float64(v) * float64(v)
	}
	if s == 0 {
		return 1
	}
	return 1 / math.Sqrt(s/float64(n))
}

// SquaredNorms returns Σ‖x‖² and Σ‖x − mean(x)‖² over the rows of x (n rows of d), the
// denominators of nmse and FVU.
func SquaredNorms(x []float32, n, d int) (aboutZero, aboutMean float64) {
	mean := Mean(x, n, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			aboutZero += float64(v) * float64(v)
			diff := float64(v) - float64(mean[j])
			aboutMean += diff * diff
		}
	}
	return aboutZero, aboutMean
}
