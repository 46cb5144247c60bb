package autoencoder

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

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

func TestReparameterizeIsMuPlusSigmaTimesEps(t *testing.T) {
	backend, err := compute.NewWithConfig("go:ops_sequential") // as backend.Open("go"): the parallel default can deadlock (pkg/backend/gopool_test.go)
	if err != nil {
		t.Fatal(err)
	}
	// μ = (1, 0), log σ² = (0, ln 4) so σ = (1, 2); eps = (0.5, −1): z = (1.5, −2).
	out, err := ExecOnce(backend, Reparameterize, []float32{1, 0}, []float32{0, float32(math.Log(4))}, []float32{0.5, -1})
	if err != nil {
		t.Fatal(err)
	}
	z := tensors.MustCopyFlatData[float32](out)
	if math.Abs(float64(z[0])-1.5) > 1e-6 || math.Abs(float64(z[1])+2) > 1e-6 {
		t.Errorf("z = %v, want [1.5 -2]", z)
	}
}

func TestVAEArchHasALatentLayerBetweenEncoderAndDecoder(t *testing.T) {
	m := spec.Model{Kind: "vae", Latent: 32,
		Encoder: []spec.Layer{{Units: 128, Activation: "relu"}},
		Decoder: []spec.Layer{{Units: 128, Activation: "relu"}, {Activation: "sigmoid"}}}
	a := NewArch(m, 784)
	if a.Latent != 1 || a.Layers[1].Name != "latent" || a.Layers[1].Out != 32 || a.Layers[2].In != 32 || a.Output() != 784 {
		t.Errorf("arch %+v", a)
	}
}
