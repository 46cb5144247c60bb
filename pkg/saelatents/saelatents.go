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
// The model itself (weights, Encode, Decode) is pkg/trained's: this package adds the
// SAE-specific checks and the latent analyses (Top, Frequencies).
package saelatents

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/trained"
)

// SAE is one trained sparse autoencoder (pkg/trained's model of kind sae): D inputs,
// L latents, encoder.0's kernel [D, L] and decoder.0's kernel [L, D].
type SAE = trained.Model

// New checks the layers' shapes against each other and against activation's needs.
func New(enc, dec results.LayerWeights, activation string, k int) (*SAE, error) {
	return trained.NewSAE(enc, dec, activation, k)
}

// Load reads run's SAE from its sweep: the weights of the last epoch that recorded them
// (every run keeps its final weights unless its spec set record.weights.every: 0).
func Load(sw *results.Sweep, r results.Run) (*SAE, error) {
	s, err := trained.Load(sw, r.RunID)
	if err != nil {
		return nil, err
	}
	if s.Kind != "sae" {
		return nil, fmt.Errorf("saelatents: run %s is a %q model, not an sae", r.RunID, s.Kind)
	}
	return s, nil
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
