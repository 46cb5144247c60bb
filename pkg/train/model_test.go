package train

import (
	"slices"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
)

// The spec's lists of names and the registries of implementations agree: a kind the
// spec accepts always has an implementation, and an implementation is reachable.
func TestRegistriesMatchTheSpecsNames(t *testing.T) {
	for _, c := range []struct {
		what       string
		spec, impl []string
	}{
		{"model.kind", spec.ModelKinds, KnownModelKinds()},
		{"model.sae.activation", spec.SAEActivations, KnownSAEActivations()},
		{"regularizers.*.kind", spec.RegularizerKinds, KnownPenalties()},
	} {
		s := slices.Sorted(slices.Values(c.spec))
		if !slices.Equal(s, c.impl) {
			t.Errorf("%s: the spec allows %v, the registry implements %v", c.what, s, c.impl)
		}
	}
}

// An unknown kind, activation or regularizer is an error that names it and the known
// ones, never a silent default.
func TestUnknownNamesAreErrorsNotDefaults(t *testing.T) {
	b := backendsForTest(t)["go"]
	for _, c := range []struct {
		name string
		edit func(s *spec.Spec)
		want string
	}{
		{"kind", func(s *spec.Spec) { s.Model.Kind = "gated" }, `model.kind "gated": unknown (known: [autoencoder sae vae])`},
		{"activation", func(s *spec.Spec) { s.Model.SAE.Activation = "gated" }, `model.sae.activation "gated": unknown`},
		{"regularizer", func(s *spec.Spec) {
			s.Regularizers = append(s.Regularizers, spec.Regularizer{Kind: "l2_activity", Weight: 1})
		}, `regularizers.0.kind "l2_activity": unknown (known: [kl_sparsity l1_activity weight_decay])`},
	} {
		m := saeMember(t, "a", nil)
		c.edit(m.Spec)
		_, err := Train(t.Context(), b, []Member{m}, digits(t), &History{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// Each kind declares the state a checkpoint must hold besides the parameters, the
// optimizer and the step count (the schedule's position): an SAE its silence counters, a BatchTopK (and Matryoshka) its evaluation
// threshold; a jumprelu's thresholds are parameters; a VAE its sampling generator.
func TestEveryModelKindDeclaresItsCheckpointState(t *testing.T) {
	b := backendsForTest(t)["go"]
	build := func(m Member) *group {
		gr, err := newGroup(b, []Member{m}, digits(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(gr.free)
		return gr
	}
	names := func(gr *group) []string {
		var out []string
		for _, v := range gr.checkpointVariables() {
			out = append(out, v.Path())
		}
		return out
	}
	has := func(t *testing.T, what string, all []string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !slices.ContainsFunc(all, func(n string) bool { return strings.Contains(n, w) }) {
				t.Errorf("%s: checkpoint variables %v lack %q", what, all, w)
			}
		}
	}
	for _, c := range []struct {
		act       map[string]any
		want, not []string
	}{
		{map[string]any{"model.sae.activation": "topk"}, []string{"sae_state/silent"}, []string{"threshold"}},
		{map[string]any{"model.sae.activation": "batchtopk"}, []string{"sae_state/silent", "sae_state/threshold"}, nil},
		{map[string]any{"model.sae.activation": "matryoshka_batchtopk", "model.sae.matryoshka_widths": []any{8, 32}},
			[]string{"sae_state/silent", "sae_state/threshold"}, nil},
		{map[string]any{"model.sae.activation": "jumprelu", "model.sae.k": nil, "model.sae.l0_coefficient": 0.001},
			[]string{"sae_state/silent", "threshold"}, []string{"sae_state/threshold"}},
	} {
		gr := build(saeMember(t, "a", c.act))
		all := names(gr)
		what := c.act["model.sae.activation"].(string)
		has(t, what, all, append(c.want, "schedule/step")...)
		for _, n := range c.not {
			if slices.ContainsFunc(all, func(v string) bool { return strings.Contains(v, n) }) {
				t.Errorf("%s: checkpoint variables %v hold %q", what, all, n)
			}
		}
		if len(all) != len(gr.params.All())+len(gr.opt.State())+len(gr.model.state())+1 {
			t.Errorf("%s: %d checkpoint variables, want parameters, optimizer state, model state and the step count", what, len(all))
		}
	}
	_, src, err := spec.Parse("v.yaml", []byte(vaeSpec))
	if err != nil {
		t.Fatal(err)
	}
	vae, err := src.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	has(t, "vae", names(build(Member{RunID: "v", Spec: vae})), "noise/rng")
}
