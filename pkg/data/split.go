package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// splitStream is the second PCG seed word used by Split, fixed so that a
// given seed always yields the same split.
const splitStream = 0x5AE5_9117_DA7A_0001

// Split makes a deterministic train/validation split of s from seed. A
// permutation of the rows is drawn from a PCG generator seeded with
// (uint64(seed), splitStream); the first round(fraction*N) permuted rows form
// the validation set and the rest the training set, both in permutation
// order. fraction must be in [0,1). Both results are copies.
//
// A split leaving fewer than MinTrainRows training or MinValidationRows validation
// rows is refused here, naming the set's source, rather than failing later in a run.
func Split(s *Set, fraction float64, seed int64) (train, validation *Set, err error) {
	if s == nil {
		return nil, nil, fmt.Errorf("data: Split of a nil Set")
	}
	if !(fraction >= 0 && fraction < 1) { // also rejects NaN
		return nil, nil, fmt.Errorf("data: Split fraction %v is outside [0,1)", fraction)
	}
	perm := rand.New(rand.NewPCG(uint64(seed), splitStream)).Perm(s.N)
	nVal := int(math.Round(fraction * float64(s.N)))
	if nVal < MinValidationRows || s.N-nVal < MinTrainRows {
		src := s.Source
		if src == "" {
			src = "the data set"
		}
		return nil, nil, fmt.Errorf("data: %s: %d rows split with validation fraction %v give %d training and %d validation rows; at least %d and %d are needed (the validation explained variance compares rows with their mean): use more rows or another validation_fraction",
			src, s.N, fraction, s.N-nVal, nVal, MinTrainRows, MinValidationRows)
	}
	return s.Subset(perm[nVal:]), s.Subset(perm[:nVal]), nil
}
