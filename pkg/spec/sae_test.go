package spec

import (
	"errors"
	"reflect"
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
	if !reflect.DeepEqual(ae.Model.SAE, SAE{}) {
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
		{"matryoshka without widths", "activation: topk", "activation: matryoshka_batchtopk", "model.sae.matryoshka_widths"},
		{"matryoshka widths short of latents", "activation: topk, k: 8", "activation: matryoshka_batchtopk, k: 8, matryoshka_widths: [32, 64]", "the last width is 64, not latents (128)"},
		{"matryoshka widths descending", "activation: topk, k: 8", "activation: matryoshka_batchtopk, k: 8, matryoshka_widths: [64, 32, 128]", "not ascending: 32 (item 1) after 64"},
		{"matryoshka widths repeated", "activation: topk, k: 8", "activation: matryoshka_batchtopk, k: 8, matryoshka_widths: [64, 64, 128]", "not ascending"},
		{"matryoshka width 0", "activation: topk, k: 8", "activation: matryoshka_batchtopk, k: 8, matryoshka_widths: [0, 128]", "width 0 (item 0) is outside 1..128"},
		{"matryoshka width negative", "activation: topk, k: 8", "activation: matryoshka_batchtopk, k: 8, matryoshka_widths: [-5, 128]", "outside 1..128"},
		{"widths with topk", "k: 8}", "k: 8, matryoshka_widths: [64, 128]}", "only with activation: matryoshka_batchtopk"},
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

func TestMatryoshkaSpecTakesBatchTopKDefaultsAndItsWidths(t *testing.T) {
	src := strings.Replace(validSAE, "activation: topk", "activation: matryoshka_batchtopk, matryoshka_widths: [16, 64, 128]", 1)
	s, err := loadAndExpand(t, src)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Model.SAE
	if !reflect.DeepEqual(a.MatryoshkaWidths, []int{16, 64, 128}) || a.ThresholdMomentum != DefaultSAEThresholdMomentum ||
		a.AuxCoefficient != DefaultSAEAuxCoefficient || !a.UsesAuxK() {
		t.Errorf("matryoshka_batchtopk resolved to %+v", a)
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
