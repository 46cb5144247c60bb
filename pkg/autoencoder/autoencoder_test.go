package autoencoder

import (
	"math"
	"slices"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
)

func TestNewArchNamesLayersAndFillsTheOutputSize(t *testing.T) {
	m := spec.Model{
		Encoder: []spec.Layer{{Units: 128, Activation: "relu"}, {Units: 64, Activation: "relu"}},
		Decoder: []spec.Layer{{Units: 128, Activation: "relu"}, {Activation: "sigmoid"}},
	}
	a := NewArch(m, 784)
	var names []string
	for _, l := range a.Layers {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"encoder.0", "encoder.1", "decoder.0", "decoder.1"}) {
		t.Errorf("names %v", names)
	}
	if a.Layers[1].In != 128 || a.Layers[1].Out != 64 || a.Output() != 784 || a.Index("decoder.0") != 2 {
		t.Errorf("arch %+v", a)
	}
}

func TestGlorotUniformIsSeededAndBounded(t *testing.T) {
	a, b, c := GlorotUniform(1, 0, 64, 100), GlorotUniform(1, 0, 64, 100), GlorotUniform(2, 0, 64, 100)
	if !slices.Equal(a, b) || slices.Equal(a, c) || slices.Equal(a, GlorotUniform(1, 1, 64, 100)) {
		t.Error("initialisation must depend on seed and layer, and only on them")
	}
	limit := math.Sqrt(6.0 / 164)
	for _, w := range a {
		if math.Abs(float64(w)) > limit {
			t.Fatalf("weight %v outside ±%v", w, limit)
		}
	}
}
