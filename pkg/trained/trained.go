// Package trained loads a trained run from a results folder (its configuration from
// the runs table, its weights from the weights table) as a model that encodes and
// decodes new vectors on the host, in float64 arithmetic: an autoencoder, a VAE (its
// evaluation form, z = μ) or a sparse autoencoder of any activation.
//
// Weights are as the runner exports them, in the data's own units (an SAE's input
// scale is already folded in), so Encode takes raw inputs and Decode returns
// reconstructions in those units.
//
// The forward passes are the runner's evaluation passes (pkg/autoencoder's Forward,
// pkg/train's saeModel.forward):
//   - autoencoder, vae: each dense layer h = f(W h + b), f one of relu, sigmoid, tanh,
//     linear, satlin; the code is the last encoder layer's activation (a VAE's: μ);
//   - sae: z = W_encᵀ(x − b_dec) + b_enc, then h = f(z) with
//   - relu:      max(z, 0)
//   - topk:      max(z, 0) where z ≥ the row's k-th largest z (ties with it kept), else 0
//   - batchtopk, matryoshka_batchtopk: max(z, 0) where z > θ, the one learned threshold
//     (its evaluation form)
//   - jumprelu:  max(z, 0) where z > θ_j, each latent's threshold
//
// and x̂ = W_decᵀ h + b_dec.
package trained

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/spec"
)

// Model is one trained model: its dense layers in order (encoder.0 … (latent)
// decoder.N; an SAE's encoder.0 and decoder.0), each kernel in×out row-major.
type Model struct {
	RunID string
	Epoch int // the epoch whose weights these are
	Spec  spec.Spec
	// Kind is autoencoder, vae or sae.
	Kind   string
	Layers []results.LayerWeights
	// Activations of each layer (for an SAE: encoder.0's is the SAE activation).
	Activations []string
	// Code is the index of the code layer: the last encoder layer (a VAE's latent
	// layer, an SAE's encoder.0). Encode returns its activations, Decode runs the
	// layers after it.
	Code int
	// D is the input size, L the code size (an SAE's latents).
	D, L int
	// Activation and K: an SAE's activation and its k (topk); "" and 0 otherwise.
	Activation string
	K          int
}

// Load reads run runID of sw at the last epoch that recorded weights (every run keeps
// its final weights unless its spec set record.weights.every: 0).
func Load(sw *results.Sweep, runID string) (*Model, error) { return LoadEpoch(sw, runID, -1) }

// LoadEpoch reads run runID's weights of the given epoch (-1: the last recorded).
func LoadEpoch(sw *results.Sweep, runID string, epoch int) (*Model, error) {
	runs, err := sw.Runs(results.Filter{RunIDs: []string{runID}})
	if err != nil {
		return nil, err
	}
	if len(runs) != 1 {
		return nil, fmt.Errorf("trained: no run %q in %s", runID, sw.Dir)
	}
	var cfg spec.Spec
	if err := json.Unmarshal([]byte(runs[0].Config), &cfg); err != nil {
		return nil, fmt.Errorf("trained: run %s: config: %w", runID, err)
	}
	rows, err := sw.Weights(results.Filter{RunIDs: []string{runID}})
	if err != nil {
		return nil, err
	}
	if epoch < 0 {
		for _, w := range rows {
			epoch = max(epoch, int(w.Epoch))
		}
		if epoch < 0 {
			return nil, fmt.Errorf("trained: run %s has no weights in %s (its spec set record.weights.every: 0, or it recorded no epoch)", runID, sw.Dir)
		}
	}
	byName := map[string]*results.LayerWeights{}
	for _, w := range rows {
		if int(w.Epoch) != epoch {
			continue
		}
		l := byName[w.Layer]
		if l == nil {
			l = &results.LayerWeights{Name: w.Layer}
			byName[w.Layer] = l
		}
		switch w.Kind {
		case "kernel":
			if len(w.Shape) != 2 {
				return nil, fmt.Errorf("trained: run %s %s kernel has shape %v, want [in, out]", runID, w.Layer, w.Shape)
			}
			l.In, l.Out, l.Kernel = int(w.Shape[0]), int(w.Shape[1]), w.Values
		case "bias":
			l.Bias = w.Values
		case "threshold":
			l.Threshold = w.Values
		}
	}
	if len(byName) == 0 {
		return nil, fmt.Errorf("trained: run %s has no weights of epoch %d in %s", runID, epoch, sw.Dir)
	}
	var layers []results.LayerWeights
	for _, name := range layerNames(&cfg) {
		l, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("trained: run %s epoch %d has no weights of layer %s", runID, epoch, name)
		}
		layers = append(layers, *l)
	}
	m, err := New(cfg, layers)
	if err != nil {
		return nil, fmt.Errorf("run %s epoch %d: %w", runID, epoch, err)
	}
	m.RunID, m.Epoch = runID, epoch
	return m, nil
}

func layerNames(s *spec.Spec) []string {
	if s.Model.Kind == "sae" {
		return []string{"encoder.0", "decoder.0"}
	}
	return s.Model.LayerNames()
}

// New builds the model of spec s from its layers' weights (in layer order), checking
// their shapes against each other and the activations' needs.
func New(s spec.Spec, layers []results.LayerWeights) (*Model, error) {
	m := &Model{Spec: s, Kind: s.Model.Kind, Layers: layers}
	switch m.Kind {
	case "sae":
		if len(layers) != 2 {
			return nil, fmt.Errorf("trained: an sae has 2 layers (encoder.0, decoder.0), got %d", len(layers))
		}
		return newSAE(m, s.Model.SAE.Activation, s.Model.SAE.K)
	case "autoencoder", "vae":
	default:
		return nil, fmt.Errorf("trained: model.kind %q: want autoencoder, vae or sae", m.Kind)
	}
	var acts []string
	for _, l := range s.Model.Encoder {
		acts = append(acts, l.Activation)
	}
	m.Code = len(acts) - 1
	if m.Kind == "vae" {
		acts = append(acts, "linear")
		m.Code++
	}
	for _, l := range s.Model.Decoder {
		acts = append(acts, l.Activation)
	}
	if len(acts) != len(layers) || m.Code < 0 {
		return nil, fmt.Errorf("trained: the spec has %d layers, the weights %d", len(acts), len(layers))
	}
	m.Activations = acts
	for i, l := range layers {
		if l.In < 1 || l.Out < 1 || len(l.Kernel) != l.In*l.Out || len(l.Bias) != l.Out {
			return nil, fmt.Errorf("trained: layer %s kernel is %d×%d with %d values and %d biases", l.Name, l.In, l.Out, len(l.Kernel), len(l.Bias))
		}
		if i > 0 && l.In != layers[i-1].Out {
			return nil, fmt.Errorf("trained: layer %s takes %d inputs, %s gives %d", l.Name, l.In, layers[i-1].Name, layers[i-1].Out)
		}
		if !slices.Contains(spec.Activations, acts[i]) {
			return nil, fmt.Errorf("trained: layer %s activation %q: want one of %v", l.Name, acts[i], spec.Activations)
		}
	}
	m.D, m.L = layers[0].In, layers[m.Code].Out
	return m, nil
}

// NewSAE builds a sparse autoencoder from encoder.0 [D, L] and decoder.0 [L, D].
func NewSAE(enc, dec results.LayerWeights, activation string, k int) (*Model, error) {
	return newSAE(&Model{Kind: "sae", Layers: []results.LayerWeights{enc, dec}}, activation, k)
}

func newSAE(m *Model, activation string, k int) (*Model, error) {
	enc, dec := m.Layers[0], m.Layers[1]
	m.D, m.L, m.Activation, m.K, m.Code = enc.In, enc.Out, activation, k, 0
	m.Activations = []string{activation, "linear"}
	switch {
	case m.D < 1 || m.L < 1 || len(enc.Kernel) != m.D*m.L:
		return nil, fmt.Errorf("trained: encoder.0 kernel is %d×%d with %d values", enc.In, enc.Out, len(enc.Kernel))
	case len(enc.Bias) != m.L:
		return nil, fmt.Errorf("trained: encoder.0 bias has %d values, want %d latents", len(enc.Bias), m.L)
	case dec.In != m.L || dec.Out != m.D || len(dec.Kernel) != m.D*m.L:
		return nil, fmt.Errorf("trained: decoder.0 kernel is %d×%d with %d values, want %d×%d", dec.In, dec.Out, len(dec.Kernel), m.L, m.D)
	case len(dec.Bias) != m.D:
		return nil, fmt.Errorf("trained: decoder.0 bias has %d values, want %d", len(dec.Bias), m.D)
	}
	want := 0
	switch activation {
	case "relu":
	case "topk":
		if k < 1 || k > m.L {
			return nil, fmt.Errorf("trained: topk with k = %d: want 1..%d latents", k, m.L)
		}
	case "batchtopk", "matryoshka_batchtopk":
		want = 1
	case "jumprelu":
		want = m.L
	default:
		return nil, fmt.Errorf("trained: activation %q: want one of %v", activation, spec.SAEActivations)
	}
	if len(enc.Threshold) != want {
		return nil, fmt.Errorf("trained: %s needs %d thresholds in encoder.0, the weights have %d", activation, want, len(enc.Threshold))
	}
	return m, nil
}

// Threshold is an SAE's encoder.0 thresholds (jumprelu: [L]; batchtopk: [1]; else nil).
func (m *Model) Threshold() []float32 { return m.Layers[0].Threshold }

// Encode returns the code [n, L] (row-major) of x [n, D]: an SAE's latents, an
// autoencoder's last encoder layer, a VAE's μ.
func (m *Model) Encode(x []float32) ([]float32, error) {
	return m.Layer(x, m.Code)
}

// Layer returns layer i's activations [n, out] of x [n, D].
func (m *Model) Layer(x []float32, i int) ([]float32, error) {
	if i < 0 || i >= len(m.Layers) {
		return nil, fmt.Errorf("trained: layer %d of %d", i, len(m.Layers))
	}
	if len(x)%m.D != 0 {
		return nil, fmt.Errorf("trained: %d input values are not rows of %d", len(x), m.D)
	}
	if m.Kind == "sae" {
		h := m.saeEncode(x)
		if i == 0 {
			return h, nil
		}
		return m.dense(h, 1), nil
	}
	h := x
	for j := 0; j <= i; j++ {
		h = m.dense(h, j)
	}
	return h, nil
}

// Decode returns the reconstructions [n, D] of codes h [n, L].
func (m *Model) Decode(h []float32) ([]float32, error) {
	if len(h)%m.L != 0 {
		return nil, fmt.Errorf("trained: %d code values are not rows of %d", len(h), m.L)
	}
	for j := m.Code + 1; j < len(m.Layers); j++ {
		h = m.dense(h, j)
	}
	return h, nil
}

// Reconstruct is Decode(Encode(x)).
func (m *Model) Reconstruct(x []float32) ([]float32, error) {
	h, err := m.Encode(x)
	if err != nil {
		return nil, err
	}
	return m.Decode(h)
}

// dense applies layer j (W in×out row-major, bias, activation) to rows h [n, in].
func (m *Model) dense(h []float32, j int) []float32 {
	l, act := m.Layers[j], m.Activations[j]
	if m.Kind == "sae" {
		act = "linear" // the decoder; the encoder is saeEncode
	}
	n := len(h) / l.In
	out := make([]float32, n*l.Out)
	acc := make([]float64, l.Out)
	for r := range n {
		for o := range acc {
			acc[o] = float64(l.Bias[o])
		}
		for i, v := range h[r*l.In : (r+1)*l.In] {
			if v == 0 {
				continue
			}
			for o, w := range l.Kernel[i*l.Out : (i+1)*l.Out] {
				acc[o] += float64(v) * float64(w)
			}
		}
		for o, a := range acc {
			out[r*l.Out+o] = float32(activate(act, a))
		}
	}
	return out
}

func activate(name string, x float64) float64 {
	switch name {
	case "relu":
		return max(x, 0)
	case "sigmoid":
		return 1 / (1 + math.Exp(-x))
	case "tanh":
		return math.Tanh(x)
	case "satlin":
		return min(max(x, 0), 1)
	}
	return x // linear (New checked the names)
}

// saeEncode is an SAE's latents of x [n, D].
func (m *Model) saeEncode(x []float32) []float32 {
	enc, bDec, th := m.Layers[0], m.Layers[1].Bias, m.Layers[0].Threshold
	n := len(x) / m.D
	h := make([]float32, n*m.L)
	z := make([]float64, m.L)
	sorted := make([]float64, m.L)
	for r := range n {
		for j := range z {
			z[j] = float64(enc.Bias[j])
		}
		for i := range m.D {
			c := float64(x[r*m.D+i]) - float64(bDec[i])
			for j, w := range enc.Kernel[i*m.L : (i+1)*m.L] {
				z[j] += c * float64(w)
			}
		}
		var cut func(j int) float64 // latent j fires where z_j > 0 and z_j ≥ or > its cut
		strict := true
		switch m.Activation {
		case "relu":
			cut = func(int) float64 { return 0 }
		case "topk":
			copy(sorted, z)
			slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
			kth := sorted[m.K-1]
			cut, strict = func(int) float64 { return kth }, false
		case "batchtopk", "matryoshka_batchtopk":
			cut = func(int) float64 { return float64(th[0]) }
		case "jumprelu":
			cut = func(j int) float64 { return float64(th[j]) }
		}
		for j, v := range z {
			if v > 0 && (v > cut(j) || !strict && v == cut(j)) {
				h[r*m.L+j] = float32(v)
			}
		}
	}
	return h
}
