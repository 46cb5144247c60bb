package seednb

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

const oneRun = `name: one
dataset: {name: digits, max_train_samples: 100, max_validation_samples: 30}
model: {encoder: [{units: 6, activation: relu}], decoder: [{activation: sigmoid}]}
loss: mse
optimizer: {name: adam}
train: {epochs: 3, batch_size: 50, seed: 1}
`

// The first call trains the run, the second reads it without training (the same run,
// model weights and curve), and a curve that does not exist is an error.
func TestLoadOrTrainTrainsOnceThenReadsTheSameModel(t *testing.T) {
	out := t.TempDir()
	var log bytes.Buffer
	first, err := LoadOrTrain(context.Background(), oneRun, out, "go", &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	second, err := LoadOrTrain(context.Background(), oneRun, out, "go", &log)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Trained || second.Trained {
		t.Errorf("trained: first %v, second %v; want true then false", first.Trained, second.Trained)
	}
	if first.Run.RunID != second.Run.RunID || second.Model.Epoch != 3 ||
		!equal(first.Model.Layers[0].Kernel, second.Model.Layers[0].Kernel) {
		t.Errorf("the second call read another model: %s/%d vs %s/%d", first.Run.RunID, first.Model.Epoch, second.Run.RunID, second.Model.Epoch)
	}
	c, err := second.Curve("validation", "loss")
	if err != nil || len(c) != 3 {
		t.Errorf("validation loss curve %v, %v; want 3 epochs", c, err)
	}
	if _, err := second.Curve("validation", "no-such-metric"); err == nil || !strings.Contains(err.Error(), "no-such-metric") {
		t.Errorf("a missing metric: %v", err)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
