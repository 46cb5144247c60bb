// Package saelatents evaluates a trained sparse autoencoder (model.kind: sae) on the
// host, from the weights table alone: its latents for any set of input vectors, and the
// inputs on which a latent fires most.
//
// It exists for analysis, not training: the runner records latents only for a probe of
// its own validation split, whose rows are a permutation of the data set's, while a
// notebook that asks "which Fashion-MNIST images make latent 12 fire?" needs the latents
// of every stored activation row, in that file's order (so that each row's
// validation_index leads back to its image). The encoder is small (D×L multiply-adds
// per row), so computing it here, in float64, is simpler than a second compiled program.
//
// The formulas are the runner's evaluation forward pass (pkg/sae, pkg/train's
// saeModel.forward), on exported weights, which are in the data's own units (an input scale
// is already folded in): z = W_encᵀ(x − b_dec) + b_enc, then h = f(z) with
//   - relu:      max(z, 0)
//   - topk:      max(z, 0) where z ≥ the row's k-th largest z (ties with it kept), else 0
//   - batchtopk, matryoshka_batchtopk: max(z, 0) where z > θ, the one learned threshold
//     (its evaluation form)
//   - jumprelu:  max(z, 0) where z > θ_j, each latent's threshold
//
// and x̂ = W_decᵀ h + b_dec.
package saelatents

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/spec"
)

// SAE is one trained sparse autoencoder, as exported: encoder.0's kernel [D, L]
// (row-major) and bias [L], decoder.0's kernel [L, D] and bias [D].
type SAE struct {
	D, L       int
	Activation string    // relu | topk | batchtopk | jumprelu | matryoshka_batchtopk
	K          int       // topk: latents kept per row
	WEnc, BEnc []float32 // [D*L] (x index major), [L]
	WDec, BDec []float32 // [L*D] (latent index major), [D]
	Threshold  []float32 // jumprelu: [L]; batchtopk: [1]; otherwise nil
}

// New checks the layers' shapes against each other and against activation's needs.
func New(enc, dec results.LayerWeights, activation string, k int) (*SAE, error) {
	s := &SAE{D: enc.In, L: enc.Out, Activation: activation, K: k,
		WEnc: enc.Kernel, BEnc: enc.Bias, WDec: dec.Kernel, BDec: dec.Bias, Threshold: enc.Threshold}
	switch {
	case s.D < 1 || s.L < 1 || len(s.WEnc) != s.D*s.L:
		return nil, fmt.Errorf("saelatents: encoder.0 kernel is %d×%d with %d values", enc.In, enc.Out, len(enc.Kernel))
	case len(s.BEnc) != s.L:
		return nil, fmt.Errorf("saelatents: encoder.0 bias has %d values, want %d latents", len(s.BEnc), s.L)
	case dec.In != s.L || dec.Out != s.D || len(s.WDec) != s.D*s.L:
		return nil, fmt.Errorf("saelatents: decoder.0 kernel is %d×%d with %d values, want %d×%d", dec.In, dec.Out, len(dec.Kernel), s.L, s.D)
	case len(s.BDec) != s.D:
		return nil, fmt.Errorf("saelatents: decoder.0 bias has %d values, want %d", len(s.BDec), s.D)
	}
	want := 0
	switch activation {
	case "relu":
	case "topk":
		if k < 1 || k > s.L {
			return nil, fmt.Errorf("saelatents: topk with k = %d: want 1..%d latents", k, s.L)
		}
	case "batchtopk", "matryoshka_batchtopk":
		want = 1
	case "jumprelu":
		want = s.L
	default:
		return nil, fmt.Errorf("saelatents: activation %q: want one of %v", activation, spec.SAEActivations)
	}
	if len(s.Threshold) != want {
		return nil, fmt.Errorf("saelatents: %s needs %d thresholds in encoder.0, the weights have %d", activation, want, len(s.Threshold))
	}
	return s, nil
}

// Load reads run's SAE from its sweep: the weights of the last epoch that recorded them
// (the spec must set record.weights) and the activation and k from its configuration.
func Load(sw *results.Sweep, r results.Run) (*SAE, error) {
	var cfg spec.Spec
	if err := json.Unmarshal([]byte(r.Config), &cfg); err != nil {
		return nil, fmt.Errorf("saelatents: run %s: config: %w", r.RunID, err)
	}
	if cfg.Model.Kind != "sae" {
		return nil, fmt.Errorf("saelatents: run %s is a %q model, not an sae", r.RunID, cfg.Model.Kind)
	}
	rows, err := sw.Weights(results.Filter{RunIDs: []string{r.RunID}})
	if err != nil {
		return nil, err
	}
	last := int32(-1)
	for _, w := range rows {
		last = max(last, w.Epoch)
	}
	if last < 0 {
		return nil, fmt.Errorf("saelatents: run %s has no weights in %s (does its spec set record.weights?)", r.RunID, sw.Dir)
	}
	layers := map[string]*results.LayerWeights{"encoder.0": {Name: "encoder.0"}, "decoder.0": {Name: "decoder.0"}}
	for _, w := range rows {
		l, ok := layers[w.Layer]
		if w.Epoch != last || !ok {
			continue
		}
		switch w.Kind {
		case "kernel":
			if len(w.Shape) != 2 {
				return nil, fmt.Errorf("saelatents: run %s %s kernel has shape %v", r.RunID, w.Layer, w.Shape)
			}
			l.In, l.Out, l.Kernel = int(w.Shape[0]), int(w.Shape[1]), w.Values
		case "bias":
			l.Bias = w.Values
		case "threshold":
			l.Threshold = w.Values
		}
	}
	s, err := New(*layers["encoder.0"], *layers["decoder.0"], cfg.Model.SAE.Activation, cfg.Model.SAE.K)
	if err != nil {
		return nil, fmt.Errorf("run %s epoch %d: %w", r.RunID, last, err)
	}
	return s, nil
}

// Encode returns the latents [n, L] (row-major) of x [n, D].
func (s *SAE) Encode(x []float32) ([]float32, error) {
	if len(x)%s.D != 0 {
		return nil, fmt.Errorf("saelatents: %d input values are not rows of %d", len(x), s.D)
	}
	n := len(x) / s.D
	h := make([]float32, n*s.L)
	z := make([]float64, s.L)
	sorted := make([]float64, s.L)
	for r := range n {
		for j := range z {
			z[j] = float64(s.BEnc[j])
		}
		for i := range s.D {
			c := float64(x[r*s.D+i]) - float64(s.BDec[i])
			row := s.WEnc[i*s.L : (i+1)*s.L]
			for j, w := range row {
				z[j] += c * float64(w)
			}
		}
		var cut func(j int) float64 // latent j fires where z_j > 0 and z_j ≥ or > its cut
		strict := true
		switch s.Activation {
		case "relu":
			cut = func(int) float64 { return 0 }
		case "topk":
			copy(sorted, z)
			slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
			kth := sorted[s.K-1]
			cut, strict = func(int) float64 { return kth }, false
		case "batchtopk", "matryoshka_batchtopk":
			cut = func(int) float64 { return float64(s.Threshold[0]) }
		case "jumprelu":
			cut = func(j int) float64 { return float64(s.Threshold[j]) }
		}
		for j, v := range z {
			if v > 0 && (v > cut(j) || !strict && v == cut(j)) {
				h[r*s.L+j] = float32(v)
			}
		}
	}
	return h, nil
}

// Decode returns the reconstructions [n, D] of latents h [n, L].
func (s *SAE) Decode(h []float32) ([]float32, error) {
	if len(h)%s.L != 0 {
		return nil, fmt.Errorf("saelatents: %d latent values are not rows of %d", len(h), s.L)
	}
	n := len(h) / s.L
	out := make([]float32, n*s.D)
	acc := make([]float64, s.D)
	for r := range n {
		for i := range acc {
			acc[i] = float64(s.BDec[i])
		}
		for j, v := range h[r*s.L : (r+1)*s.L] {
			if v == 0 {
				continue
			}
			for i, w := range s.WDec[j*s.D : (j+1)*s.D] {
				acc[i] += float64(v) * float64(w)
			}
		}
		for i, a := range acc {
			out[r*s.D+i] = float32(a)
		}
	}
	return out, nil
}

// Top returns the rows of h [n, L] on which latent fires most, strongest first, at
// most count of them, only rows where it fires (h > 0); ties go to the earlier row.
func Top(h []float32, L, latent, count int) ([]int, error) {
	if L < 1 || len(h)%L != 0 || latent < 0 || latent >= L {
		return nil, fmt.Errorf("saelatents: Top: latent %d of %d over %d values", latent, L, len(h))
	}
	var rows []int
	for r := range len(h) / L {
		if h[r*L+latent] > 0 {
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b int) int { return cmp.Compare(h[b*L+latent], h[a*L+latent]) })
	return rows[:min(count, len(rows))], nil
}

// Frequencies returns each latent's firing frequency over the rows of h [n, L]: the
// fraction of rows with h > 0 (the feature density).
func Frequencies(h []float32, L int) []float64 {
	f := make([]float64, L)
	n := len(h) / L
	for r := range n {
		for j, v := range h[r*L : (r+1)*L] {
			if v > 0 {
				f[j]++
			}
		}
	}
	for j := range f {
		f[j] /= float64(n)
	}
	return f
}
