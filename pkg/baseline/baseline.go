// Package baseline scores the trivial autoencoder that a reproduction must beat: one
// that ignores its input and outputs the mean training image for every sample. Its
// validation loss and MAPE are the level below which a trained model has learned
// something about each input; a reconstruction no better than this (the seed 003
// satlin model before issue 14) has learned only the average digit.
//
// The formulas are the runner's (pkg/sparsity), computed on the host in float64:
//
//	mse, bce           mean over samples and pixels (bce with x̂ clipped to [1e-7, 1-1e-7])
//	mse_sum, bce_sum   summed over pixels, mean over samples
//	mape               100 · Σ |x̂ − x| / |x| over the pixels with x ≠ 0, divided by their count
//	mape_seed          100 · Σ |x̂ − x| / Σ |x| over all pixels (the seed notebooks' ratio of sums)
//
// A penalty (sparsity, weight decay, a VAE's KL) has no counterpart in a predictor
// without a code, so the baseline is a reconstruction loss: compare it with a run's
// validation reconstruction (for a VAE, whose mean predictor is the prior's decoder
// with KL 0, also with its validation loss).
package baseline

import (
	"fmt"
	"math"
	"strings"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/spec"
)

// Epsilon clips BCE's x̂ away from 0 and 1 (the runner's value, Keras').
const Epsilon = 1e-7

// Scores are the mean-image predictor's validation scores.
type Scores struct {
	Loss     float64 // the spec's reconstruction loss
	MAPE     float64 // the runner's mape, in %
	MAPESeed float64 // the seeds' ratio of sums, in %
}

// Mean returns the mean of the rows of s (one value per feature).
func Mean(s *data.Set) ([]float64, error) {
	if s == nil || s.N == 0 {
		return nil, fmt.Errorf("baseline: empty training set")
	}
	m := make([]float64, s.Dim)
	for i := range s.N {
		for j, x := range s.Row(i) {
			m[j] += float64(x)
		}
	}
	for j := range m {
		m[j] /= float64(s.N)
	}
	return m, nil
}

// MeanImage scores predicting the mean of train for every row of validation, with
// loss "mse", "bce", "mse_sum" or "bce_sum".
func MeanImage(train, validation *data.Set, loss string) (Scores, error) {
	base := strings.TrimSuffix(loss, "_sum")
	if base != "mse" && base != "bce" {
		return Scores{}, fmt.Errorf("baseline: loss %q: want mse, bce, mse_sum or bce_sum", loss)
	}
	m, err := Mean(train)
	if err != nil {
		return Scores{}, err
	}
	if validation == nil || validation.N == 0 {
		return Scores{}, fmt.Errorf("baseline: empty validation set")
	}
	if validation.Dim != train.Dim {
		return Scores{}, fmt.Errorf("baseline: validation rows have %d features, training rows %d", validation.Dim, train.Dim)
	}
	if base == "bce" {
		for name, s := range map[string]*data.Set{"training": train, "validation": validation} {
			if row, f, v, out := s.OutsideUnitInterval(); out {
				return Scores{}, fmt.Errorf("baseline: loss %s needs values in [0, 1]; the %s set has %v at row %d, feature %d", loss, name, v, row, f)
			}
		}
	}
	var lossSum, ape, apeCount, absErr, absX float64
	for i := range validation.N {
		for j, xf := range validation.Row(i) {
			x, p := float64(xf), m[j]
			if base == "mse" {
				lossSum += (p - x) * (p - x)
			} else {
				q := min(max(p, Epsilon), 1-Epsilon)
				lossSum -= x*math.Log(q) + (1-x)*math.Log(1-q)
			}
			e := math.Abs(p - x)
			absErr += e
			absX += math.Abs(x)
			if x != 0 {
				ape += e / math.Abs(x)
				apeCount++
			}
		}
	}
	s := Scores{Loss: lossSum / float64(validation.N), MAPE: 100 * ape / math.Max(apeCount, 1), MAPESeed: 100 * absErr / absX}
	if !strings.HasSuffix(loss, "_sum") {
		s.Loss /= float64(validation.Dim)
	}
	if absX == 0 {
		s.MAPESeed = math.NaN()
	}
	if apeCount == 0 {
		s.MAPE = math.NaN()
	}
	return s, nil
}

// OfSpec scores the mean-image predictor on the data of a resolved spec (a run's
// config): its dataset with its split and caps, read from dataDir ("" for
// data.DefaultDir), with its loss. It is what that run must beat, on the very
// validation set the run was scored on.
func OfSpec(s spec.Spec, dataDir string) (Scores, error) {
	full, err := data.Open(specdata.Source(s.Dataset), dataDir)
	if err != nil {
		return Scores{}, fmt.Errorf("baseline: %w", err)
	}
	d, err := specdata.Prepare(full, s.Dataset)
	if err != nil {
		return Scores{}, fmt.Errorf("baseline: %w", err)
	}
	return MeanImage(d.Train, d.Validation, s.Loss)
}
