package spec

import (
	"errors"
	"strings"
	"testing"
)

const validSAE = `name: s
dataset: {name: digits}
model:
  kind: sae
  sae: {latents: 128, activation: topk, k: 8}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.001}
train: {epochs: 2, batch_size: 64}
sweep:
  parameters:
    model.sae.k: {values: [4, 8, 16]}
`

func TestSAESpecGetsItsDefaultsOnlyWithKindSAE(t *testing.T) {
	s, err := loadAndExpand(t, validSAE)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Model.SAE
	if a.AuxCoefficient != DefaultSAEAuxCoefficient || a.DeadAfter != DefaultSAEDeadAfter || a.BDecInit != "geometric_median" ||
		a.Normalize != "none" || a.Bandwidth != 0 || a.ThresholdMomentum != 0 {
		t.Errorf("topk defaults: %+v", a)
	}
	if a.AuxKFor(64) != 32 || a.AuxKFor(1000) != 128 {
		t.Errorf("aux_k omitted: %d for 64 inputs, %d for 1000 (want d/2 capped at latents)", a.AuxKFor(64), a.AuxKFor(1000))
	}
	if names := s.Model.LayerNames(); strings.Join(names, ",") != "encoder.0,decoder.0" {
		t.Errorf("layers %v", names)
	}
	ae, err := loadAndExpand(t, valid)
	if err != nil {
		t.Fatal(err)
	}
	if ae.Model.SAE != (SAE{}) {
		t.Errorf("an autoencoder got SAE defaults: %+v", ae.Model.SAE)
	}
}

func TestBadSAESpecsNameTheKeyAndAllowedValues(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"k missing", "activation: topk, k: 8", "activation: topk", "model.sae.k"},
		{"k above latents", "k: 8}", "k: 500}", "1 to latents (128)"},
		{"l1 with topk", "k: 8}", "k: 8, l1_coefficient: 1}", "only with activation: relu"},
		{"relu without l1", "activation: topk, k: 8", "activation: relu", "l1_coefficient"},
		{"jumprelu without l0", "activation: topk, k: 8", "activation: jumprelu", "l0_coefficient"},
		{"unknown activation", "activation: topk", "activation: gated", "relu, topk, batchtopk, jumprelu"},
		{"bad b_dec_init", "k: 8}", "k: 8, b_dec_init: median}", "geometric_median, mean, zeros"},
		{"bad normalize", "k: 8}", "k: 8, normalize: l2}", "none, unit_mean_squared_norm"},
		{"aux_k 0 written", "k: 8}", "k: 8, aux_k: 0}", "model.sae.aux_k"},
		{"dead_after too large", "k: 8}", "k: 8, dead_after: 2000000000}", "1 to 1073741824"},
		{"bce loss", "loss: mse_sum", "loss: bce", "mse_sum or mse with model.kind: sae"},
		{"encoder given", "  kind: sae\n", "  kind: sae\n  encoder: [{units: 4, activation: relu}]\n", "model.encoder"},
		{"momentum with topk", "k: 8}", "k: 8, threshold_momentum: 0.9}", "only with activation: batchtopk"},
		{"swept k out of range", "values: [4, 8, 16]", "values: [4, 0]", "model.sae.k"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(validSAE, c.from, c.to, 1)
			if src == validSAE {
				t.Fatal("case does not change the spec")
			}
			_, err := loadAndExpand(t, src)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want spec.Errors, got %v", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %q lacks %q (or the file)", err, c.want)
			}
		})
	}
}

func TestModelSAEIsRefusedForOtherKinds(t *testing.T) {
	src := strings.Replace(valid, "model:\n", "model:\n  sae: {latents: 8}\n", 1)
	if src == valid {
		t.Fatal("case does not change the spec")
	}
	_, err := loadAndExpand(t, src)
	if err == nil || !strings.Contains(err.Error(), "only with kind: sae") {
		t.Fatalf("model.sae on an autoencoder: %v", err)
	}
}
