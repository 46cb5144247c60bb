package spec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBadRecipeKeysNameTheKeyAndAllowedValues(t *testing.T) {
	const opt = "optimizer: {name: adam, learning_rate: 0.001}"
	withOpt := func(extra string) [2]string {
		return [2]string{opt, "optimizer: {name: adam, learning_rate: 0.001, " + extra + "}"}
	}
	cases := []struct {
		name     string
		from, to string
		want     string
	}{
		{"unknown decay", withOpt("schedule: {decay: exponential}")[0], withOpt("schedule: {decay: exponential}")[1], "constant, linear, cosine"},
		{"cosine without decay_steps", opt, withOpt("schedule: {decay: cosine}")[1], "optimizer.schedule.decay_steps"},
		{"decay_steps 0 written", opt, withOpt("schedule: {decay: linear, decay_steps: 0}")[1], "1 to 16777216"},
		{"decay_steps with constant", opt, withOpt("schedule: {decay_steps: 100}")[1], "only with decay: linear or cosine"},
		{"final rate with constant", opt, withOpt("schedule: {final_learning_rate: 0.0001}")[1], "optimizer.schedule.final_learning_rate"},
		{"final rate above the rate", opt, withOpt("schedule: {decay: cosine, decay_steps: 10, final_learning_rate: 0.01}")[1], "0 <= final_learning_rate <= learning_rate (0.001)"},
		{"final rate negative", opt, withOpt("schedule: {decay: cosine, decay_steps: 10, final_learning_rate: -1.0e-4}")[1], "final_learning_rate"},
		{"negative warm-up", opt, withOpt("schedule: {warmup_steps: -1}")[1], "optimizer.schedule.warmup_steps"},
		{"warm-up too long", opt, withOpt("schedule: {warmup_steps: 20000000}")[1], "0 to 16777216"},
		{"negative clip", opt, withOpt("clip_grad_norm: -1")[1], "0 (no clipping) or a norm > 0"},
		{"nan clip", opt, withOpt("clip_grad_norm: .nan")[1], "optimizer.clip_grad_norm"},
		{"l1 warm-up with topk", "k: 8}", "k: 8, l1_warmup_steps: 10}", "only with activation: relu"},
		{"l0 warm-up with relu", "activation: topk, k: 8", "activation: relu, l1_coefficient: 1, l0_warmup_steps: 5", "only with activation: jumprelu"},
		{"negative l1 warm-up", "activation: topk, k: 8", "activation: relu, l1_coefficient: 1, l1_warmup_steps: -3", "model.sae.l1_warmup_steps"},
		{"swept warm-up out of range", "model.sae.k: {values: [4, 8, 16]}", "optimizer.schedule.warmup_steps: {values: [10, -10]}", "optimizer.schedule.warmup_steps"},
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

// The recipe keys omitted, or written at their defaults, keep a run's identity; a
// value that changes the training changes it.
func TestRecipeKeysAtTheirDefaultsKeepTheRunID(t *testing.T) {
	canon := func(src string) []byte {
		t.Helper()
		s, err := loadAndExpand(t, strings.Replace(validSAE, "sweep:\n  parameters:\n    model.sae.k: {values: [4, 8, 16]}\n", "", 1))
		if src != "" {
			s, err = loadAndExpand(t, strings.Replace(strings.Replace(validSAE, "sweep:\n  parameters:\n    model.sae.k: {values: [4, 8, 16]}\n", "", 1),
				"optimizer: {name: adam, learning_rate: 0.001}", "optimizer: {name: adam, learning_rate: 0.001, "+src+"}", 1))
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := Canonical(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	omitted := canon("")
	if bytes.Contains(omitted, []byte("schedule")) || bytes.Contains(omitted, []byte("clip")) {
		t.Errorf("omitted recipe keys appear in the canonical form: %s", omitted)
	}
	for _, same := range []string{"schedule: {decay: constant}", "schedule: {warmup_steps: 0, decay: constant}", "clip_grad_norm: 0"} {
		if c := canon(same); !bytes.Equal(c, omitted) {
			t.Errorf("%s changes the canonical form:\n%s\n%s", same, c, omitted)
		}
	}
	for _, other := range []string{"schedule: {warmup_steps: 10}", "clip_grad_norm: 1", "schedule: {decay: cosine, decay_steps: 10}"} {
		if c := canon(other); bytes.Equal(c, omitted) {
			t.Errorf("%s keeps the canonical form", other)
		}
	}
}

// The AuxK loss's revision is in the canonical form of exactly the runs that use AuxK:
// their ids change with it, every other id stays.
func TestAuxKRevisionMarksOnlyRunsThatUseAuxK(t *testing.T) {
	noSweep := strings.Replace(validSAE, "sweep:\n  parameters:\n    model.sae.k: {values: [4, 8, 16]}\n", "", 1)
	for _, c := range []struct {
		name, from, to string
		marked         bool
	}{
		{"topk (AuxK by default)", "", "", true},
		{"topk, aux_coefficient 0", "k: 8}", "k: 8, aux_coefficient: 0}", false},
		{"batchtopk", "activation: topk", "activation: batchtopk", true},
		{"relu", "activation: topk, k: 8", "activation: relu, l1_coefficient: 1", false},
		{"jumprelu", "activation: topk, k: 8", "activation: jumprelu, l0_coefficient: 1", false},
	} {
		s, err := loadAndExpand(t, strings.Replace(noSweep, c.from, c.to, 1))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonical(s)
		if err != nil {
			t.Fatal(err)
		}
		if marked := bytes.Contains(got, []byte(`,"revisions":{"auxk":2},"version":`)); marked != c.marked {
			t.Errorf("%s: AuxK revision in the canonical form %v, want %v:\n%s", c.name, marked, c.marked, got)
		}
	}
	ae, err := loadAndExpand(t, valid)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Canonical(ae); bytes.Contains(got, []byte("revisions")) {
		t.Errorf("an autoencoder's canonical form has revisions: %s", got)
	}
}
