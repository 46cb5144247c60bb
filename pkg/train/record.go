package train

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/optim"
)

// The recording program runs on the epochs that record something, in one call: the
// probe samples' activations of the recorded layers (the first record.activations.samples
// validation rows), the reconstructions of the first record.reconstructions.samples
// rows, and a VAE's decodings of fixed prior draws (the same draws every epoch).

// due says what epoch records.
type due struct{ units, activations, reconstructions, generated, weights bool }

func (gr *group) dueAt(epoch int) due {
	r := gr.spec.Record
	last := epoch == gr.spec.Train.Epochs
	every := func(n int) bool { return last || epoch%n == 0 }
	return due{
		units:           every(r.Units.Every),
		activations:     gr.probeRows() > 0 && every(r.Activations.Every),
		reconstructions: gr.reconRows() > 0 && every(r.Reconstructions.Every),
		generated:       r.Generated.Samples > 0 && every(r.Generated.Every),
		weights:         r.Weights.Every > 0 && every(r.Weights.Every),
	}
}

func (gr *group) probeRows() int {
	return gr.spec.Record.Activations.Samples.Of(gr.data.Validation.N)
}
func (gr *group) reconRows() int {
	return min(gr.spec.Record.Reconstructions.Samples, gr.data.Validation.N)
}

// probeLayers are the observed layers whose probe activations are recorded.
func (gr *group) probeLayers() []int {
	var out []int
	for _, li := range gr.observed {
		if contains(gr.spec.Record.Activations.Layers, gr.arch.Layers[li].Name) {
			out = append(out, li)
		}
	}
	return out
}

// recordGraph: in[0] is the validation set x [N, D], in[1] hp; for a VAE that
// generates, in[2] the prior draws z [K, n, latent]. A sparse autoencoder's
// reconstructions are returned in the data's own units (divided by the input scale).
func (gr *group) recordGraph(_ *gmodel.Scope, in []*Node) []*Node {
	x, h := in[0], hyper{in[1]}
	g := x.Graph()
	w := gr.params.Values(g)
	var outs named
	P, R := gr.probeRows(), gr.reconRows()
	if rows := max(P, R); rows > 0 {
		out := gr.model.forward(w, h, optim.Values(g, gr.model.state()), gr.broadcast(Slice(x, AxisRange(0, rows))))
		out.Recon = gr.model.dataUnits(out.Recon)
		for _, li := range gr.probeLayers() {
			if P > 0 {
				outs.add(gr.arch.Layers[li].Name, Slice(out.Acts[li], AxisRange(), AxisRange(0, P)))
			}
		}
		if R > 0 {
			outs.add("reconstructions", Slice(out.Recon, AxisRange(), AxisRange(0, R)))
		}
	}
	if len(in) > 2 {
		outs.add("generated", autoencoder.Decode(w, gr.arch, in[2]))
	}
	gr.recLayout = outs.names
	return outs.nodes
}

// record runs the recording program and adds what epoch records to results.
func (gr *group) record(epoch int, d due, z *tensors.Tensor, results []*Epoch) error {
	d.generated = d.generated && z != nil // only a model with a prior generates
	if !d.activations && !d.reconstructions && !d.generated {
		return nil
	}
	args := []any{gr.xVal, gr.hp}
	if z != nil {
		args = append(args, z)
	}
	outs, err := gr.recordExec.Exec(args...)
	if err != nil {
		return fmt.Errorf("recording (epoch %d): %w", epoch, err)
	}
	t := byName(gr.recLayout, outs)
	defer func() {
		for _, x := range t {
			x.FinalizeAll()
		}
	}()
	K, D := len(gr.members), gr.data.Validation.Dim
	val := gr.data.Validation
	if d.activations {
		P := gr.probeRows()
		for _, li := range gr.probeLayers() {
			l := gr.arch.Layers[li]
			flat := tensors.MustCopyFlatData[float32](t[l.Name])
			for k := 0; k < K; k++ {
				a := Activations{Layer: l.Name}
				for i := 0; i < P; i++ {
					a.Index = append(a.Index, i)
					a.Labels = append(a.Labels, int(val.Labels[i]))
					a.Vectors = append(a.Vectors, flat[(k*P+i)*l.Out:(k*P+i+1)*l.Out])
				}
				results[k].Activations = append(results[k].Activations, a)
			}
		}
	}
	if d.reconstructions {
		R := gr.reconRows()
		flat := tensors.MustCopyFlatData[float32](t["reconstructions"])
		for k := 0; k < K; k++ {
			for i := 0; i < R; i++ {
				results[k].Images = append(results[k].Images, Image{Kind: "reconstruction", Sample: i, Index: i,
					Label: int(val.Labels[i]), Input: val.Row(i), Output: flat[(k*R+i)*D : (k*R+i+1)*D]})
			}
		}
	}
	if d.generated {
		n := gr.spec.Record.Generated.Samples
		flat := tensors.MustCopyFlatData[float32](t["generated"])
		for k := 0; k < K; k++ {
			for i := 0; i < n; i++ {
				results[k].Images = append(results[k].Images, Image{Kind: "generated", Sample: i, Index: -1, Label: -1,
					Output: flat[(k*n+i)*D : (k*n+i+1)*D]})
			}
		}
	}
	return nil
}
