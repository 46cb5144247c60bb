package train

import (
	"fmt"
	"math"
)

// layerStats are one model's statistics of one layer over the validation set, from
// the per-unit sums the validation program reduced on the device.
type layerStats struct {
	n      int       // samples
	sum    []float64 // per unit Σ h
	sumAbs []float64 // per unit Σ |h|
	active []float64 // per unit count of samples where the unit is active
	max    []float32
}

// activityRule says when a unit of an autoencoder counts as active: h > threshold, or
// |h| > threshold (absolute) for activations that take both signs. A threshold in the
// spec (record.active_threshold) replaces the activation's default. (An SAE's latents
// fire by sae.Fires: see saeModel.firing.)
func activityRule(activation string, threshold *float64) (float64, bool) {
	thr, absolute := 0.1, false
	switch activation {
	case "relu", "satlin":
		thr = 0
	case "tanh", "linear":
		absolute = true
	}
	if threshold != nil {
		thr = *threshold
	}
	return thr, absolute
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
	mean, active, dead := 0.0, 0.0, 0
	for j := range s.sum {
		mean += s.sum[j]
		active += s.active[j]
		if s.active[j] == 0 {
			dead++
		}
	}
	mean /= float64(s.n * len(s.sum))
	return []Metric{
		{Split: "validation", Name: "mean_activation/" + layer, Value: mean},
		{Split: "validation", Name: "l0/" + layer, Value: active / float64(s.n)},
		{Split: "validation", Name: "dead_fraction/" + layer, Value: float64(dead) / float64(len(s.sum))},
	}
}

func (s *layerStats) units(layer string) []UnitStats {
	out := make([]UnitStats, len(s.sum))
	for j := range out {
		out[j] = UnitStats{Layer: layer, Unit: j, MeanActivation: s.sum[j] / float64(s.n),
			ActiveFraction: s.active[j] / float64(s.n), MaxActivation: float64(s.max[j])}
	}
	return out
}

// penaltyNames are the metric names of the regularizers (unique within a spec).
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// trainingFinite reports whether ms's training metrics are all finite.
func trainingFinite(ms []Metric) bool {
	for _, m := range ms {
		if m.Split == "train" && (math.IsNaN(m.Value) || math.IsInf(m.Value, 0)) {
			return false
		}
	}
	return true
}

// ratio is a/b, or NaN (undefined, recorded as null) when b is 0: a variance or norm
// of zero makes fvu, nmse or mape undefined, not 0 and not infinite.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
