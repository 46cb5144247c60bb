package spec

import (
	"bytes"
	"strings"
	"testing"
)

const weightsBase = `name: w
dataset: {name: digits}
model: {encoder: [{units: 4, activation: relu}], decoder: [{activation: sigmoid}]}
loss: mse
optimizer: {name: adam}
train: {epochs: 7, batch_size: 10}
`

// The trained model is kept by default: record.weights.every defaults to train.epochs
// (the last epoch only), and writing that value out keeps the canonical form (the
// run id); every: 0 is accepted (no weights) and is another run; a negative every is
// refused naming the key.
func TestWeightsDefaultToTheLastEpochAndEveryZeroTurnsThemOff(t *testing.T) {
	parse := func(extra string) (*Spec, []byte, error) {
		s, _, err := Parse("w.yaml", []byte(weightsBase+extra))
		if err != nil {
			return nil, nil, err
		}
		c, err := Canonical(s)
		return s, c, err
	}
	s, omitted, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	if s.Record.Weights.Every != 7 {
		t.Errorf("default record.weights.every = %d, want train.epochs (7)", s.Record.Weights.Every)
	}
	if bytes.Contains(omitted, []byte(`"weights"`)) {
		t.Errorf("the default shows in the canonical form: %s", omitted)
	}
	if _, written, err := parse("record: {weights: {every: 7}}\n"); err != nil || !bytes.Equal(written, omitted) {
		t.Errorf("every: 7 written out changes the canonical form (%v):\n%s\n%s", err, written, omitted)
	}
	off, offCanon, err := parse("record: {weights: {every: 0}}\n")
	if err != nil || off.Record.Weights.Every != 0 {
		t.Fatalf("every: 0 refused or not kept: %v", err)
	}
	if bytes.Equal(offCanon, omitted) {
		t.Error("every: 0 has the default's canonical form")
	}
	if _, _, err := parse("record: {weights: {every: -1}}\n"); err == nil || !strings.Contains(err.Error(), "record.weights.every") {
		t.Errorf("every: -1: %v", err)
	}
}
