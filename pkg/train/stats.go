package train

import (
	"fmt"
	"math"
)

// layerStats accumulates one model's activations of one layer over the validation set.
type layerStats struct {
	threshold float64
	absolute  bool // compare |h| (tanh, linear)
	n         int
	sum       []float64 // per unit Σ h
	sumAbs    []float64 // per unit Σ |h|
	active    []int     // per unit count of active samples
	max       []float64
	activeSum int // Σ over samples of active units (for L0)
}

func newLayerStats(units int, activation string, threshold *float64) *layerStats {
	s := &layerStats{sum: make([]float64, units), sumAbs: make([]float64, units),
		active: make([]int, units), max: make([]float64, units)}
	for i := range s.max {
		s.max[i] = math.Inf(-1)
	}
	switch activation {
	case "relu", "satlin":
		s.threshold = 0
	case "tanh", "linear":
		s.threshold, s.absolute = 0.1, true
	default:
		s.threshold = 0.1
	}
	if threshold != nil {
		s.threshold = *threshold
	}
	return s
}

// add folds in one sample's activation vector.
func (s *layerStats) add(h []float32) {
	s.n++
	for j, v := range h {
		x := float64(v)
		s.sum[j] += x
		s.sumAbs[j] += math.Abs(x)
		if x > s.max[j] {
			s.max[j] = x
		}
		if s.absolute {
			x = math.Abs(x)
		}
		if x > s.threshold {
			s.active[j]++
			s.activeSum++
		}
	}
}

func (s *layerStats) means() []float64 {
	m := make([]float64, len(s.sum))
	for j := range m {
		m[j] = s.sum[j] / float64(s.n)
	}
	return m
}

// l1 is mean over samples of Σ_j |h_j|.
func (s *layerStats) l1() float64 {
	t := 0.0
	for _, v := range s.sumAbs {
		t += v
	}
	return t / float64(s.n)
}

func (s *layerStats) metrics(layer string) []Metric {
	mean, dead := 0.0, 0
	for j := range s.sum {
		mean += s.sum[j]
		if s.active[j] == 0 {
			dead++
		}
	}
	mean /= float64(s.n * len(s.sum))
	return []Metric{
		{"validation", "mean_activation/" + layer, mean},
		{"validation", "l0/" + layer, float64(s.activeSum) / float64(s.n)},
		{"validation", "dead_fraction/" + layer, float64(dead) / float64(len(s.sum))},
	}
}

func (s *layerStats) units(layer string) []UnitStats {
	out := make([]UnitStats, len(s.sum))
	for j := range out {
		out[j] = UnitStats{Layer: layer, Unit: j, MeanActivation: s.sum[j] / float64(s.n),
			ActiveFraction: float64(s.active[j]) / float64(s.n), MaxActivation: s.max[j]}
	}
	return out
}

// penaltyName is the metric name of regularizer i (unique within a spec).
func penaltyNames(kinds, layers []string) []string {
	names := make([]string, len(kinds))
	seen := map[string]int{}
	for i, k := range kinds {
		n := "penalty/" + k
		if layers[i] != "" {
			n += "/" + layers[i]
		}
		seen[n]++
		if seen[n] > 1 {
			n = fmt.Sprintf("%s#%d", n, seen[n])
		}
		names[i] = n
	}
	return names
}
