package seednb

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

func TestQuickReadsTheSwitchAndRefusesOtherValues(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true} {
		t.Setenv(QuickEnv, v)
		got, err := Quick()
		if err != nil || got != want {
			t.Errorf("%s=%q: Quick() = %v, %v; want %v", QuickEnv, v, got, err, want)
		}
	}
	t.Setenv(QuickEnv, "yes")
	if _, err := Quick(); err == nil {
		t.Errorf("%s=yes accepted", QuickEnv)
	}
}

func TestRootSeparatesShortenedResultsAndHonoursTheOverride(t *testing.T) {
	t.Setenv(ResultsEnv, "")
	if got := Root("/r", false); got != filepath.Join("/r", "results", "seeds") {
		t.Errorf("full: %s", got)
	}
	if got := Root("/r", true); got != filepath.Join("/r", "results", "seeds-quick") {
		t.Errorf("quick: %s", got)
	}
	t.Setenv(ResultsEnv, "/elsewhere")
	if got := Root("/r", true); got != "/elsewhere" {
		t.Errorf("override: %s", got)
	}
}

func TestLayersJoinsKernelAndBiasOfOneRunAndEpoch(t *testing.T) {
	rows := []results.WeightRow{
		{RunID: "a", Epoch: 2, Layer: "encoder.0", Kind: "kernel", Shape: []int32{2, 3}, Values: []float32{1, 2, 3, 4, 5, 6}},
		{RunID: "a", Epoch: 2, Layer: "encoder.0", Kind: "bias", Shape: []int32{3}, Values: []float32{7, 8, 9}},
		{RunID: "a", Epoch: 1, Layer: "encoder.0", Kind: "bias", Shape: []int32{3}, Values: []float32{0, 0, 0}},
		{RunID: "b", Epoch: 2, Layer: "decoder.0", Kind: "bias", Shape: []int32{2}, Values: []float32{0, 0}},
	}
	l, err := Layers(rows, "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	e := l["encoder.0"]
	if len(l) != 1 || e.In != 2 || e.Out != 3 || !slices.Equal(e.Kernel, rows[0].Values) || !slices.Equal(e.Bias, rows[1].Values) {
		t.Errorf("got %+v", l)
	}
	if _, err := Layers(rows, "a", 3); err == nil {
		t.Error("no rows at epoch 3: want an error")
	}
	bad := []results.WeightRow{{RunID: "a", Epoch: 1, Layer: "x", Kind: "kernel", Shape: []int32{2, 2}, Values: []float32{1}}}
	if _, err := Layers(bad, "a", 1); err == nil {
		t.Error("a kernel whose shape does not match its values was accepted")
	}
}
