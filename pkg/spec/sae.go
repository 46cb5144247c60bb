package spec

import (
	"fmt"
	"math"
	"slices"
)

// Defaults of model.sae, applied only with kind: sae.
const (
	DefaultSAEBandwidth         = 0.001
	DefaultSAEInitialThreshold  = 0.001
	DefaultSAEThresholdMomentum = 0.999
	DefaultSAEAuxCoefficient    = 1.0 / 32
	DefaultSAEDeadAfter         = 10_000_000
	MaxSAEDeadAfter             = 1 << 30
	// MaxScheduleSteps bounds the warm-up and decay lengths (optimizer.schedule, the
	// coefficient warm-ups): step counts up to it are exact in the float32
	// hyperparameters the device reads.
	MaxScheduleSteps = 1 << 24
)

// selects reports whether the activation keeps the k largest pre-activations (and so
// takes k and AuxK).
func (a SAE) selects() bool { return slices.Contains(selecting, a.Activation) }

var selecting = []string{"topk", "batchtopk", "matryoshka_batchtopk"}

// UsesAuxK reports whether the model trains with the AuxK loss.
func (a SAE) UsesAuxK() bool {
	return a.selects() && a.AuxCoefficient > 0
}

// AuxKFor is the AuxK size for inputs of size dim: AuxK, or dim/2 when omitted, at
// most Latents.
func (a SAE) AuxKFor(dim int) int {
	k := a.AuxK
	if k == 0 {
		k = max(dim/2, 1)
	}
	return min(k, a.Latents)
}

// validateSAE checks model.sae of a kind: sae spec.
func (src *Source) validateSAE(s *Spec) Errors {
	var errs Errors
	bad := func(key, allowed, format string, args ...any) {
		errs = append(errs, src.errAt("model.sae."+key, allowed, format, args...))
	}
	a := s.Model.SAE
	if a.Latents < 1 || a.Latents > 1<<20 {
		bad("latents", "1 to 1048576 (the dictionary size)", "invalid: %d", a.Latents)
	}
	if !slices.Contains(SAEActivations, a.Activation) {
		if a.Activation == "" {
			bad("activation", oneOf(SAEActivations), "missing")
		} else {
			bad("activation", oneOf(SAEActivations), "unknown value %q", a.Activation)
		}
	}
	// only refuses a key the activation does not use; uses checks one it needs.
	only := func(key string, set bool, kinds ...string) bool {
		if slices.Contains(kinds, a.Activation) {
			return true
		}
		if set || src.Given("model.sae."+key) {
			bad(key, fmt.Sprintf("only with activation: %s", oneOf(kinds)), "not used by %s", a.Activation)
		}
		return false
	}
	if only("k", a.K != 0, selecting...) && (a.K < 1 || (a.Latents > 0 && a.K > a.Latents)) {
		bad("k", fmt.Sprintf("1 to latents (%d)", a.Latents), "invalid: %d", a.K)
	}
	positive := func(key string, v float64, allowed string, ok func(float64) bool) {
		if math.IsNaN(v) || math.IsInf(v, 0) || !ok(v) {
			bad(key, allowed, "out of range: %v", v)
		}
	}
	if only("l1_coefficient", a.L1Coefficient != 0, "relu") {
		if !src.Given("model.sae.l1_coefficient") {
			bad("l1_coefficient", "a number >= 0 (relu's L1 penalty weight)", "missing")
		} else {
			positive("l1_coefficient", a.L1Coefficient, ">= 0", func(v float64) bool { return v >= 0 })
		}
	}
	if only("l0_coefficient", a.L0Coefficient != 0, "jumprelu") {
		if !src.Given("model.sae.l0_coefficient") {
			bad("l0_coefficient", "a number >= 0 (jumprelu's L0 penalty weight)", "missing")
		} else {
			positive("l0_coefficient", a.L0Coefficient, ">= 0", func(v float64) bool { return v >= 0 })
		}
	}
	for _, w := range [...]struct {
		key, kind string
		v         int
	}{{"l1_warmup_steps", "relu", a.L1WarmupSteps}, {"l0_warmup_steps", "jumprelu", a.L0WarmupSteps}} {
		if only(w.key, w.v != 0, w.kind) && (w.v < 0 || w.v > MaxScheduleSteps) {
			bad(w.key, "0 to 16777216 optimizer steps (0: no warm-up)", "invalid: %d", w.v)
		}
	}
	if only("bandwidth", a.Bandwidth != 0, "jumprelu") {
		positive("bandwidth", a.Bandwidth, "> 0", func(v float64) bool { return v > 0 })
	}
	if only("initial_threshold", a.InitialThreshold != 0, "jumprelu") {
		positive("initial_threshold", a.InitialThreshold, ">= 0", func(v float64) bool { return v >= 0 })
	}
	if only("threshold_momentum", a.ThresholdMomentum != 0, "batchtopk", "matryoshka_batchtopk") {
		positive("threshold_momentum", a.ThresholdMomentum, "0 <= momentum < 1", func(v float64) bool { return v >= 0 && v < 1 })
	}
	if only("aux_coefficient", a.AuxCoefficient != 0, selecting...) {
		positive("aux_coefficient", a.AuxCoefficient, ">= 0 (0 turns AuxK off)", func(v float64) bool { return v >= 0 })
	}
	if only("aux_k", a.AuxK != 0, selecting...) && src.Given("model.sae.aux_k") && (a.AuxK < 1 || (a.Latents > 0 && a.AuxK > a.Latents)) {
		bad("aux_k", fmt.Sprintf("1 to latents (%d), or omitted for half the input size", a.Latents), "invalid: %d", a.AuxK)
	}
	if only("matryoshka_widths", len(a.MatryoshkaWidths) > 0, "matryoshka_batchtopk") {
		allowed := fmt.Sprintf("a list of ascending prefix sizes from 1 to latents, the last equal to latents (%d), e.g. [%d, %d]",
			a.Latents, max(a.Latents/4, 1), a.Latents)
		w := a.MatryoshkaWidths
		switch {
		case len(w) == 0:
			bad("matryoshka_widths", allowed, "missing")
		case w[len(w)-1] != a.Latents:
			bad("matryoshka_widths", allowed, "the last width is %d, not latents (%d)", w[len(w)-1], a.Latents)
		}
		for i, v := range w {
			if v < 1 || v > a.Latents {
				bad("matryoshka_widths", allowed, "width %d (item %d) is outside 1..%d", v, i, a.Latents)
			} else if i > 0 && v <= w[i-1] {
				bad("matryoshka_widths", allowed, "not ascending: %d (item %d) after %d", v, i, w[i-1])
			}
		}
	}
	if a.DeadAfter < 1 || a.DeadAfter > MaxSAEDeadAfter {
		bad("dead_after", "1 to 1073741824 training samples (the silence count is an int32 on the device)", "invalid: %d", a.DeadAfter)
	}
	if !slices.Contains(BDecInits, a.BDecInit) {
		bad("b_dec_init", oneOf(BDecInits), "unknown value %q", a.BDecInit)
	}
	if !slices.Contains(Normalizations, a.Normalize) {
		bad("normalize", oneOf(Normalizations), "unknown value %q", a.Normalize)
	}
	if s.Loss != "" && s.Loss != "mse" && s.Loss != "mse_sum" {
		errs = append(errs, src.errAt("loss", "mse_sum or mse with model.kind: sae", "%s is not used by sae", s.Loss))
	}
	for i, r := range s.Regularizers {
		if r.Kind == "l1_activity" || r.Kind == "kl_sparsity" {
			errs = append(errs, src.errAt(fmt.Sprintf("regularizers.%d.kind", i), "weight_decay with model.kind: sae (its sparsity is model.sae.activation and its coefficient)",
				"%s is not used by sae", r.Kind))
		}
	}
	if s.Train.InputNoise != 0 {
		errs = append(errs, src.errAt("train.input_noise", "0 with model.kind: sae", "not used by sae"))
	}
	return errs
}
