package data

import (
	"fmt"
	"strings"
)

// Selection is which part of a loaded dataset a run trains and validates on: the
// validation set ("test": the dataset's test set; otherwise a seeded split of the
// training set) and caps on both sets' sizes. It is the data side of a spec's dataset
// section (package data/specdata maps one to the other), so that this package needs
// no spec.
type Selection struct {
	Validation           string  // "test", or "split" (also the default)
	ValidationFraction   float64 // with "split": the fraction of the training set held out
	SplitSeed            int64   // with "split": fixes which rows are held out
	MaxTrainSamples      int     // 0: all
	MaxValidationSamples int     // 0: all
	ValidationPath       string  // with "path": the .npy or .parquet file of validation rows
	Column               string  // with a .parquet ValidationPath: its vector column ("": the only one)
}

// Splits is what models train and validate on.
type Splits struct {
	Train, Validation *Set
	// Stream, when not nil, holds the training rows (read a chunk at a time) and
	// Train is only its first chunk, a sample for statistics (see Dataset.Stream).
	Stream *Stream
}

// Prepare applies a selection to a loaded dataset (name is the dataset's name, for
// the error when it has no test set).
func Prepare(full *Dataset, name string, sel Selection) (Splits, error) {
	var d Splits
	switch sel.Validation {
	case "test":
		if full.Test == nil {
			return d, fmt.Errorf("dataset %s has no test set: use validation: split", name)
		}
		d.Train, d.Validation = full.Train, full.Test
	case "path":
		var v *Set
		var err error
		if strings.HasSuffix(sel.ValidationPath, ".parquet") {
			v, err = LoadParquet(sel.ValidationPath, ParquetOptions{Column: sel.Column})
		} else {
			v, err = LoadNPY(sel.ValidationPath)
		}
		if err != nil {
			return d, err
		}
		if v.Dim != full.Train.Dim {
			return d, fmt.Errorf("data: %s: %w: validation rows of %d features, but the training rows (%s) have %d",
				v.Source, ErrBadFormat, v.Dim, full.Train.Source, full.Train.Dim)
		}
		if v.N < MinValidationRows {
			return d, fmt.Errorf("data: %s: %d validation rows; at least %d are needed (the validation explained variance compares rows with their mean)",
				v.Source, v.N, MinValidationRows)
		}
		d.Train, d.Validation = full.Train, v
	default:
		var err error
		if d.Train, d.Validation, err = Split(full.Train, sel.ValidationFraction, sel.SplitSeed); err != nil {
			return d, err
		}
	}
	d.Stream = full.Stream
	if sel.MaxTrainSamples > 0 && d.Stream == nil {
		d.Train = d.Train.Head(sel.MaxTrainSamples)
	}
	if sel.MaxValidationSamples > 0 {
		d.Validation = d.Validation.Head(sel.MaxValidationSamples)
	}
	return d, nil
}
