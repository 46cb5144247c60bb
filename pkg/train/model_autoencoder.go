package train

import (
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/sparsity"
	"github.com/sparselab/saerun/pkg/spec"
)

// The autoencoders of the seeds (model.kind: autoencoder): a stack of dense layers
// (pkg/autoencoder), a reconstruction loss, and the regularizers. A VAE (model.kind:
// vae) is the same stack with a Gaussian latent layer: it adds the KL term to the
// prior, its sampling noise and the decodings of fixed prior draws.

func init() {
	registerModel("autoencoder", func(gr *group, _ *gmodel.Store, _ compute.Backend) (model, []float32, []float32, error) {
		return &autoencoderModel{gr: gr}, gr.data.Train.X, gr.data.Validation.X, nil
	})
	registerModel("vae", func(gr *group, _ *gmodel.Store, _ compute.Backend) (model, []float32, []float32, error) {
		return &vaeModel{autoencoderModel{gr: gr}}, gr.data.Train.X, gr.data.Validation.X, nil
	})
}

type autoencoderModel struct{ gr *group }

func (*autoencoderModel) hyper(*spec.Spec) []float32        { return nil }
func (*autoencoderModel) state() []*gmodel.Variable         { return nil }
func (*autoencoderModel) reset(int) error                   { return nil }
func (*autoencoderModel) usesRNG() bool                     { return false }
func (*autoencoderModel) hasAux() bool                      { return false }
func (*autoencoderModel) anyDead([]*Node, hyper) *Node      { return nil }
func (*autoencoderModel) constrainGradients(_, _ []*Node)   {}
func (*autoencoderModel) constrainParams([]*Node, *Node)    {}
func (*autoencoderModel) observed() []string                { return nil }
func (*autoencoderModel) epochMetrics() ([][]Metric, error) { return nil, nil }
func (*autoencoderModel) dataUnits(recon *Node) *Node       { return recon }
func (*autoencoderModel) inputScale() float64               { return math.NaN() }
func (*autoencoderModel) prior() *tensors.Tensor            { return nil }
func (*autoencoderModel) trainNames() []string              { return []string{"loss", "reconstruction"} }
func (*autoencoderModel) evalNames() []string               { return nil }
func (*autoencoderModel) evalTerms(autoencoder.Weights, autoencoder.Output, *Node) []namedTerm {
	return nil
}

func (*autoencoderModel) export(layers [][]LayerWeights) ([][]LayerWeights, error) {
	return layers, nil
}

func (m *autoencoderModel) loss(in stepIn) stepOut {
	out := autoencoder.Forward(in.w, m.gr.arch, in.input, nil)
	return m.reconstruction(in, out)
}

func (m *autoencoderModel) reconstruction(in stepIn, out autoencoder.Output) stepOut {
	rec := in.rows.Mean(sparsity.Reconstruction(m.gr.spec.Loss, out.Recon, in.target)) // [K]
	return stepOut{total: rec, metrics: []*Node{nil, rec}, acts: out.Acts, rng: in.rng}
}

func (m *autoencoderModel) forward(w autoencoder.Weights, _ hyper, _ []*Node, x *Node) autoencoder.Output {
	return autoencoder.Forward(w, m.gr.arch, x, nil)
}

// firing: a unit is active when its activation is above the activation's threshold
// (record.active_threshold, or the activation's default; |h| for activations that take
// both signs): see activityRule.
func (m *autoencoderModel) firing(l autoencoder.Layer) func(a *Node) *Node {
	thr, absolute := activityRule(l.Activation, m.gr.spec.Record.ActiveThreshold)
	return func(a *Node) *Node {
		level := a
		if absolute {
			level = Abs(a)
		}
		return GreaterThan(level, Scalar(a.Graph(), dtypes.Float32, thr))
	}
}

func (*autoencoderModel) validation(int, valSums) (terms, info []Metric) { return nil, nil }

// vaeModel is a variational autoencoder.
type vaeModel struct{ autoencoderModel }

func (*vaeModel) usesRNG() bool { return true }

func (m *vaeModel) trainNames() []string {
	return []string{"loss", "reconstruction", "penalty/gaussian_kl/latent"}
}

func (m *vaeModel) loss(in stepIn) stepOut {
	gr := m.gr
	K, B := in.input.Shape().Dimensions[0], in.input.Shape().Dimensions[1]
	eps, rng := in.normal(in.rng, K, B, gr.spec.Model.Latent)
	out := autoencoder.Forward(in.w, gr.arch, in.input, eps)
	o := m.reconstruction(in, out)
	kl := MulScalar(in.rows.Mean(sparsity.GaussianKL(out.Acts[gr.arch.Latent], out.LogVar)), gr.spec.Model.KLWeight)
	o.total = Add(o.total, kl)
	o.metrics = append(o.metrics, kl)
	o.rng = rng
	return o
}

func (*vaeModel) evalNames() []string { return []string{"kl"} }

func (m *vaeModel) evalTerms(_ autoencoder.Weights, out autoencoder.Output, _ *Node) []namedTerm {
	return []namedTerm{{"kl", sparsity.GaussianKL(out.Acts[m.gr.arch.Latent], out.LogVar)}}
}

func (m *vaeModel) validation(k int, v valSums) (terms, info []Metric) {
	kl := m.gr.members[k].Spec.Model.KLWeight * v.sum("kl")[k] / v.n
	return []Metric{{Split: "validation", Name: "penalty/gaussian_kl/latent", Value: kl}}, nil
}

// prior are each model's fixed draws z [K, n, latent] for generated samples, from its
// seed; nil when the group generates none.
func (m *vaeModel) prior() *tensors.Tensor {
	gr := m.gr
	n := gr.spec.Record.Generated.Samples
	if n == 0 {
		return nil
	}
	L := gr.spec.Model.Latent
	z := make([]float32, 0, len(gr.members)*n*L)
	for _, mem := range gr.members {
		rng := rand.New(rand.NewPCG(uint64(mem.Spec.Train.Seed), 0x9e4e7a7e))
		for i := 0; i < n*L; i++ {
			z = append(z, float32(rng.NormFloat64()))
		}
	}
	return tensors.FromFlatDataAndDimensions(z, len(gr.members), n, L)
}
