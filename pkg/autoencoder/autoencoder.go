// Package autoencoder builds the dense encoder/decoder stacks of a spec as GoMLX graphs.
//
// Every tensor carries a leading model axis K: parameters are [K, in, out], inputs
// [K, batch, features]. K independent models (the points of a sweep that share an
// architecture) are thus trained by one compiled program; K = 1 is a single run. Each
// model's parameters are initialised on the host from its own seed, so a model gets the
// same start whether it trains alone or in a group, on any backend.
package autoencoder

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/spec"
)

// Layer is one dense layer, resolved against the input size.
type Layer struct {
	Name       string // encoder.0, …, decoder.N
	In, Out    int
	Activation string
}

// Arch is the whole stack: encoder layers, (a VAE's latent layer,) decoder layers.
type Arch struct {
	Input  int
	Layers []Layer
	// Latent is the index of a VAE's latent layer (its μ head), -1 for an autoencoder.
	Latent int
	// SAE is set for model.kind sae: Layers are then encoder.0 (W_enc, b_enc; its
	// Activation names the SAE's activation) and decoder.0 (W_dec, b_dec), and the
	// forward pass is pkg/train's, not Forward.
	SAE *SAEInit
}

// SAEInit is what a sparse autoencoder's initial values need besides the seed.
type SAEInit struct {
	// BDec is b_dec's initial value [input] (the training set's geometric median, mean,
	// or zeros), the same for every model.
	BDec []float32
	// Threshold is a jumprelu's initial θ for every latent (unused otherwise).
	Threshold float32
}

// NewArch resolves m for inputs of size input (a last decoder layer with 0 units gets
// the input size).
func NewArch(m spec.Model, input int) Arch {
	a := Arch{Input: input, Latent: -1}
	if m.Kind == "sae" {
		a.SAE = &SAEInit{BDec: make([]float32, input), Threshold: float32(m.SAE.InitialThreshold)}
		a.Layers = []Layer{{Name: "encoder.0", In: input, Out: m.SAE.Latents, Activation: m.SAE.Activation},
			{Name: "decoder.0", In: m.SAE.Latents, Out: input, Activation: "linear"}}
		return a
	}
	in := input
	names := m.LayerNames()
	all := append([]spec.Layer(nil), m.Encoder...)
	if m.Kind == "vae" {
		a.Latent = len(all)
		all = append(all, spec.Layer{Units: m.Latent, Activation: "linear"})
	}
	all = append(all, m.Decoder...)
	for i, l := range all {
		out := l.Units
		if out == 0 && i == len(all)-1 {
			out = input
		}
		a.Layers = append(a.Layers, Layer{Name: names[i], In: in, Out: out, Activation: l.Activation})
		in = out
	}
	return a
}

// Index returns the position of the named layer, or -1.
func (a Arch) Index(name string) int {
	for i, l := range a.Layers {
		if l.Name == name {
			return i
		}
	}
	return -1
}

// Output is the size of the reconstruction.
func (a Arch) Output() int { return a.Layers[len(a.Layers)-1].Out }

// Params are the variables of K stacked models.
type Params struct {
	K int
	// Kernels are stored transposed, [K, out, in] per layer: the gradient of
	// Einsum("kbi,koi->kbo") with respect to such a kernel comes out of GoMLX's autodiff in
	// its own layout, where a [K, in, out] kernel gets a [K, out, in] gradient followed by a
	// transpose that XLA fuses into every optimizer update (~10% of a training step).
	Kernels []*gmodel.Variable
	Biases  []*gmodel.Variable // per layer, [K, out]
	// LogVarKernel and LogVarBias are a VAE's log σ² head (nil for an autoencoder).
	LogVarKernel, LogVarBias *gmodel.Variable
	// Threshold is a jumprelu SAE's θ [K, latents], trained like the weights (nil
	// otherwise).
	Threshold *gmodel.Variable
}

// NewParams creates the variables in store, model k initialised from seeds[k]:
// Glorot-uniform kernels (Keras' default; GlorotUniform's in×out values, stored
// transposed), zero biases.
func NewParams(store *gmodel.Store, a Arch, seeds []int64) *Params {
	p := &Params{K: len(seeds)}
	scope := store.RootScope()
	w := initialWeights(a, seeds)
	for li, l := range a.Layers {
		ls := scope.In("%s", layerScope(l.Name))
		p.Kernels = append(p.Kernels, ls.VariableWithValue("kernel", w.kernels[li]))
		p.Biases = append(p.Biases, ls.VariableWithValue("bias", w.biases[li]))
		if li == a.Latent {
			vs := scope.In("latent_logvar")
			p.LogVarKernel = vs.VariableWithValue("kernel", w.logVarKernel)
			p.LogVarBias = vs.VariableWithValue("bias", w.logVarBias)
		}
	}
	if w.threshold != nil {
		p.Threshold = scope.In("sae").VariableWithValue("threshold", w.threshold)
	}
	return p
}

// Reset gives the variables the initial values of models seeded with seeds (as many
// as the variables were made for), as NewParams does.
func (p *Params) Reset(a Arch, seeds []int64) error {
	if len(seeds) != p.K {
		return fmt.Errorf("reset %d stacked models with %d seeds", p.K, len(seeds))
	}
	w := initialWeights(a, seeds)
	values := append(append([]*tensors.Tensor(nil), w.kernels...), w.biases...)
	if w.logVarKernel != nil {
		values = append(values, w.logVarKernel, w.logVarBias)
	}
	if w.threshold != nil {
		values = append(values, w.threshold)
	}
	for i, v := range p.All() {
		if err := SetVariable(v, values[i]); err != nil {
			return err
		}
	}
	return nil
}

// SetVariable replaces v's value by t and frees the old value's buffers at once (they
// live outside the Go heap).
func SetVariable(v *gmodel.Variable, t *tensors.Tensor) error {
	old, err := v.Value()
	if err != nil {
		return err
	}
	if err := v.SetValue(t); err != nil {
		return err
	}
	if old != nil && old != t {
		old.FinalizeAll()
	}
	return nil
}

type initial struct {
	kernels, biases          []*tensors.Tensor
	logVarKernel, logVarBias *tensors.Tensor
	threshold                *tensors.Tensor
}

// initialWeights draws every layer's kernels for the seeds (Glorot uniform, stored
// [K, out, in]) and zero biases.
func initialWeights(a Arch, seeds []int64) initial {
	if a.SAE != nil {
		return initialSAE(a, seeds)
	}
	var w initial
	K := len(seeds)
	glorot := func(layer, li int) *tensors.Tensor {
		l := a.Layers[li]
		kernel := make([]float32, 0, K*l.In*l.Out)
		for _, seed := range seeds {
			kernel = append(kernel, TransposeHost(GlorotUniform(seed, layer, l.In, l.Out), l.In, l.Out)...)
		}
		return tensors.FromFlatDataAndDimensions(kernel, K, l.Out, l.In)
	}
	zeros := func(n int) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(make([]float32, K*n), K, n) }
	for li, l := range a.Layers {
		w.kernels = append(w.kernels, glorot(li, li))
		w.biases = append(w.biases, zeros(l.Out))
		if li == a.Latent {
			w.logVarKernel, w.logVarBias = glorot(1000+li, li), zeros(l.Out)
		}
	}
	return w
}

func layerScope(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

// GlorotUniform returns an in×out kernel drawn from U(±sqrt(6/(in+out))) with a
// generator seeded by (seed, layer): the same numbers on every machine.
func GlorotUniform(seed int64, layer, in, out int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(layer)+0x9e3779b97f4a7c15))
	limit := math.Sqrt(6 / float64(in+out))
	w := make([]float32, in*out)
	for i := range w {
		w[i] = float32((2*rng.Float64() - 1) * limit)
	}
	return w
}

// TransposeHost returns the rows×cols row-major matrix m as cols×rows.
func TransposeHost(m []float32, rows, cols int) []float32 {
	t := make([]float32, len(m))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = m[r*cols+c]
		}
	}
	return t
}

// All returns every variable (kernels, biases, a VAE's log σ² head, a jumprelu's
// thresholds), in a fixed order.
func (p *Params) All() []*gmodel.Variable {
	all := append(append([]*gmodel.Variable(nil), p.Kernels...), p.Biases...)
	if p.LogVarKernel != nil {
		all = append(all, p.LogVarKernel, p.LogVarBias)
	}
	if p.Threshold != nil {
		all = append(all, p.Threshold)
	}
	return all
}

// Weights are the parameters' values in one graph, in the layout of Params: the
// variables' values in a single step, or the loop-carried values inside a compiled
// training loop.
type Weights struct {
	Kernels, Biases          []*Node
	LogVarKernel, LogVarBias *Node // nil for an autoencoder
	Threshold                *Node // a jumprelu SAE's θ [K, latents]; nil otherwise
}

// Values returns the variables' current values in g.
func (p *Params) Values(g *Graph) Weights {
	return p.WeightsFrom(values(g, p.All()))
}

func values(g *Graph, vars []*gmodel.Variable) []*Node {
	out := make([]*Node, len(vars))
	for i, v := range vars {
		out[i] = v.NodeValue(g)
	}
	return out
}

// WeightsFrom arranges nodes given in the order of All.
func (p *Params) WeightsFrom(nodes []*Node) Weights {
	n := len(p.Kernels)
	w := Weights{Kernels: nodes[:n:n], Biases: nodes[n : 2*n : 2*n]}
	next := 2 * n
	if p.LogVarKernel != nil {
		w.LogVarKernel, w.LogVarBias = nodes[next], nodes[next+1]
		next += 2
	}
	if p.Threshold != nil {
		w.Threshold = nodes[next]
	}
	return w
}

// List returns the nodes in the order of All.
func (w Weights) List() []*Node {
	all := append(append([]*Node(nil), w.Kernels...), w.Biases...)
	if w.LogVarKernel != nil {
		all = append(all, w.LogVarKernel, w.LogVarBias)
	}
	if w.Threshold != nil {
		all = append(all, w.Threshold)
	}
	return all
}

// Output is what a forward pass computes.
type Output struct {
	Recon *Node   // [K, B, out]
	Acts  []*Node // each layer's activations [K, B, units] (a VAE's latent layer: μ)
	// LogVar is a VAE's log σ² [K, B, latent]; nil for an autoencoder.
	LogVar *Node
}

func dense(h, w, b *Node) *Node {
	return Add(Einsum("kbi,koi->kbo", h, w), ExpandAxes(b, 1)) // w [K, out, in]
}

// Forward runs x [K, B, in] through the stack. For a VAE, the decoder reads
// z = μ + exp(½ log σ²)·eps, with eps [K, B, latent] standard normal draws; eps nil
// means z = μ (evaluation).
func Forward(w Weights, a Arch, x, eps *Node) Output {
	var out Output
	h := x
	for i, l := range a.Layers {
		h = Activate(l.Activation, dense(h, w.Kernels[i], w.Biases[i]))
		out.Acts = append(out.Acts, h)
		if i == a.Latent {
			out.LogVar = dense(prev(out.Acts, x, i), w.LogVarKernel, w.LogVarBias)
			if eps != nil {
				h = Reparameterize(h, out.LogVar, eps)
			}
		}
	}
	out.Recon = h
	return out
}

// Reparameterize returns z = μ + exp(½ log σ²) · eps: a draw from N(μ, σ²) through
// which gradients reach μ and log σ².
func Reparameterize(mu, logVar, eps *Node) *Node {
	return Add(mu, Mul(Exp(MulScalar(logVar, 0.5)), eps))
}

// prev is the input of layer i.
func prev(acts []*Node, x *Node, i int) *Node {
	if i == 0 {
		return x
	}
	return acts[i-1]
}

// Decode runs z [K, B, latent] through the decoder of a VAE (the layers after the latent one).
func Decode(w Weights, a Arch, z *Node) *Node {
	h := z
	for i := a.Latent + 1; i < len(a.Layers); i++ {
		h = Activate(a.Layers[i].Activation, dense(h, w.Kernels[i], w.Biases[i]))
	}
	return h
}

// Activate applies a named activation: relu, sigmoid, tanh, linear, or satlin
// (clamp to [0, 1], MATLAB's saturating linear).
func Activate(name string, x *Node) *Node {
	switch name {
	case "relu":
		return Max(x, ZerosLike(x))
	case "sigmoid":
		return Sigmoid(x)
	case "tanh":
		return Tanh(x)
	case "linear":
		return x
	case "satlin":
		return ClipScalar(x, 0, 1)
	}
	panic(fmt.Sprintf("unknown activation %q (allowed: %v)", name, spec.Activations))
}

// initialSAE draws each model's decoder directions from its seed (standard normal,
// scaled to unit norm), sets W_enc = W_decᵀ (stored [K, L, D], the same numbers as the
// papers' d_sae × d_in W_dec), b_enc = 0, b_dec = a.SAE.BDec and a jumprelu's θ.
func initialSAE(a Arch, seeds []int64) initial {
	K, D, L := len(seeds), a.Input, a.Layers[0].Out
	enc := make([]float32, 0, K*L*D)
	dec := make([]float32, K*D*L)
	for k, seed := range seeds {
		dirs := UnitDirections(seed, L, D)
		enc = append(enc, dirs...)
		copy(dec[k*D*L:], TransposeHost(dirs, L, D))
	}
	bDec := make([]float32, 0, K*D)
	for range seeds {
		bDec = append(bDec, a.SAE.BDec...)
	}
	w := initial{
		kernels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(enc, K, L, D), tensors.FromFlatDataAndDimensions(dec, K, D, L)},
		biases:  []*tensors.Tensor{tensors.FromFlatDataAndDimensions(make([]float32, K*L), K, L), tensors.FromFlatDataAndDimensions(bDec, K, D)},
	}
	if a.Layers[0].Activation == "jumprelu" {
		th := make([]float32, K*L)
		for i := range th {
			th[i] = a.SAE.Threshold
		}
		w.threshold = tensors.FromFlatDataAndDimensions(th, K, L)
	}
	return w
}

// UnitDirections returns n random unit vectors of size dim (row-major n×dim), standard
// normal draws scaled to norm 1, from a generator seeded by seed: the same on every
// machine.
func UnitDirections(seed int64, n, dim int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5ae0d1c7))
	out := make([]float32, n*dim)
	row := make([]float64, dim)
	for i := 0; i < n; i++ {
		norm := 0.0
		for j := range row {
			row[j] = rng.NormFloat64()
			norm += row[j] * row[j]
		}
		norm = math.Sqrt(norm)
		for j, v := range row {
			out[i*dim+j] = float32(v / norm)
		}
	}
	return out
}
