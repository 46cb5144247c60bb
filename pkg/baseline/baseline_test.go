package baseline

import (
	"math"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/spec"
)

func set(rows ...[]float32) *data.Set {
	s := &data.Set{N: len(rows), Dim: len(rows[0]), Height: 1, Width: len(rows[0]), Labels: make([]int32, len(rows))}
	for _, r := range rows {
		s.X = append(s.X, r...)
	}
	return s
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.15g, want %.15g", what, got, want)
	}
}

// The mean of the training rows (0.25, 0.5) is predicted for both validation rows;
// every score is checked against the formula written out by hand.
func TestMeanImageScoresMatchHandComputation(t *testing.T) {
	train := set([]float32{0, 1}, []float32{0.5, 0})
	val := set([]float32{0.5, 0.5}, []float32{0, 1})
	// errors: row 0: (-0.25, 0), row 1: (0.25, -0.5)
	mse := (0.0625 + 0 + 0.0625 + 0.25) / 4
	s, err := MeanImage(train, val, "mse")
	if err != nil {
		t.Fatal(err)
	}
	near(t, "mse", s.Loss, mse)
	near(t, "mape", s.MAPE, 100*(0.25/0.5+0/0.5+0.5/1)/3) // the zero pixel is left out
	near(t, "mape_seed", s.MAPESeed, 100*(0.25+0+0.25+0.5)/(0.5+0.5+0+1))
	s, _ = MeanImage(train, val, "mse_sum")
	near(t, "mse_sum", s.Loss, mse*2)

	bce := func(x, p float64) float64 { return -(x*math.Log(p) + (1-x)*math.Log(1-p)) }
	want := (bce(0.5, 0.25) + bce(0.5, 0.5) + bce(0, 0.25) + bce(1, 0.5)) / 4
	s, _ = MeanImage(train, val, "bce")
	near(t, "bce", s.Loss, want)
	s, _ = MeanImage(train, val, "bce_sum")
	near(t, "bce_sum", s.Loss, want*2)
}

// A pixel that is 0 in every training image is predicted as 0: BCE clips it to 1e-7
// instead of taking log 0.
func TestMeanImageBCEClipsConstantPixels(t *testing.T) {
	train := set([]float32{0, 1}, []float32{0, 1})
	val := set([]float32{1, 0})
	s, err := MeanImage(train, val, "bce")
	if err != nil {
		t.Fatal(err)
	}
	// 1 − (1 − 1e-7) is 1e-7 only to about 1e-9 in float64.
	if want := -math.Log(Epsilon); math.Abs(s.Loss-want) > 1e-8 {
		t.Errorf("bce = %v, want %v", s.Loss, want)
	}
}

func TestMeanImageRefusesBadInput(t *testing.T) {
	train := set([]float32{0, 1})
	if _, err := MeanImage(train, set([]float32{0, 1}), "l1"); err == nil {
		t.Error("loss l1 accepted")
	}
	if _, err := MeanImage(train, set([]float32{0, 1, 2}), "mse"); err == nil {
		t.Error("validation rows of another width accepted")
	}
	if _, err := MeanImage(&data.Set{}, set([]float32{0, 1}), "mse"); err == nil {
		t.Error("empty training set accepted")
	}
}

// An all-zero validation set has no MAPE (every pixel is left out) and no ratio of
// sums: both are NaN (null), not 0.
func TestMeanImageUndefinedMAPEIsNaN(t *testing.T) {
	s, err := MeanImage(set([]float32{0.5, 0.5}), set([]float32{0, 0}), "mse")
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(s.MAPE) || !math.IsNaN(s.MAPESeed) {
		t.Errorf("MAPE %v, MAPESeed %v: want NaN", s.MAPE, s.MAPESeed)
	}
}

func TestMeanImageRefusesBCEOnValuesOutsideTheUnitInterval(t *testing.T) {
	_, err := MeanImage(set([]float32{0, 1}), set([]float32{0.5, -0.25}), "bce_sum")
	if err == nil || !strings.Contains(err.Error(), "[0, 1]") || !strings.Contains(err.Error(), "-0.25") {
		t.Errorf("err = %v, want a refusal naming [0, 1] and the value -0.25", err)
	}
}

// OfSpec scores the spec's own split and caps: the same as MeanImage on the sets
// specdata prepares for that dataset section, and different from another split.
func TestOfSpecScoresTheSpecsOwnSplitAndCaps(t *testing.T) {
	s := spec.Spec{Loss: "mse", Dataset: spec.Dataset{Name: "digits", ValidationFraction: 0.2, MaxTrainSamples: 500}}
	got, err := OfSpec(s, "")
	if err != nil {
		t.Fatal(err)
	}
	full, err := data.Load("digits", "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := specdata.Prepare(full, s.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 500 {
		t.Fatalf("the cap was not applied: %d training rows", d.Train.N)
	}
	want, err := MeanImage(d.Train, d.Validation, "mse")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("OfSpec = %+v, MeanImage on the spec's split = %+v", got, want)
	}
	s.Dataset.MaxTrainSamples = 100
	if other, err := OfSpec(s, ""); err != nil || other.Loss == got.Loss {
		t.Errorf("another cap gave the same loss %v (%v)", other.Loss, err)
	}
	s.Loss = "cosine"
	if _, err := OfSpec(s, ""); err == nil {
		t.Error("a loss without a mean-image score was accepted")
	}
}
