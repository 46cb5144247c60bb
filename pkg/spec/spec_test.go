package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

const valid = `name: t
dataset: {name: digits}
model:
  encoder: [{units: 16, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam}
train: {epochs: 2, batch_size: 32}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 3}
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.1, 1]}
`

func TestParseValidSpecAppliesDefaults(t *testing.T) {
	s, _, err := Parse("t.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if s.Dataset.ValidationFraction != DefaultValidationFraction || s.Dataset.Validation != "split" {
		t.Errorf("dataset defaults not applied: %+v", s.Dataset)
	}
	if s.Optimizer.LearningRate != DefaultAdamLearningRate || s.Optimizer.Beta2 != 0.999 {
		t.Errorf("optimizer defaults not applied: %+v", s.Optimizer)
	}
	if got := s.Record.Activations.Layers; len(got) != 1 || got[0] != "encoder.0" {
		t.Errorf("recorded layers default to the regularized layer, got %v", got)
	}
}

// Each broken spec must give an error naming the line and key, and say what is allowed.
func TestBadSpecsNameLineKeyAndAllowedValues(t *testing.T) {
	cases := []struct {
		name, from, to string
		line           int
		want           []string
	}{
		{"unknown key", "loss: mse", "loss: mse\nlosss: bce", 7, []string{`unknown key "losss"`, "allowed:", "loss"}},
		{"unknown nested key", "{units: 16, activation: sigmoid}", "{units: 16, activaton: sigmoid}", 4, []string{"model.encoder.0.activaton", "allowed: activation, units"}},
		{"wrong type", "epochs: 2", "epochs: two", 8, []string{"train.epochs", "expected an integer"}},
		{"syntax error", "dataset: {name: digits}", "dataset: {name: digits", 3, []string{"must be specified"}},
		{"negative weight", "weight: 3}", "weight: -3}", 10, []string{"regularizers.0.weight", "weight >= 0"}},
		{"rho out of range", "target: 0.05", "target: 1.5", 10, []string{"regularizers.0.target", "0 < target < 1"}},
		{"unknown layer", "layer: encoder.0", "layer: encoder.7", 10, []string{"unknown layer", "encoder.0, decoder.0"}},
		{"unknown activation", "{units: 16, activation: sigmoid}", "{units: 16, activation: swish}", 4, []string{"relu, sigmoid, tanh, linear, satlin"}},
		{"unknown loss", "loss: mse", "loss: l2", 6, []string{"allowed: mse, bce"}},
		{"unknown dataset", "{name: digits}", "{name: cifar}", 2, []string{"digits, mnist, fashion-mnist"}},
		{"sweep path names no key", "regularizers.0.weight:", "regularizers.0.wieght:", 14, []string{"names no key"}},
		{"sweep index out of range", "regularizers.0.weight:", "regularizers.3.weight:", 14, nil},
		{"empty sweep", "    regularizers.0.weight: {values: [0.1, 1]}\n", "", 11, []string{"empty sweep"}},
		{"swept value out of range", "values: [0.1, 1]", "values: [0.1, -1]", 14, []string{"weight >= 0", "regularizers.0.weight=-1"}},
		{"duplicate key", "loss: mse", "loss: mse\nloss: bce", 7, []string{"already defined"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(valid, c.from, c.to, 1)
			if src == valid {
				t.Fatalf("case does not change the spec")
			}
			_, err := loadAndExpand(t, src)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want spec.Errors, got %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "bad.yaml:") {
				t.Errorf("error does not name the file: %s", msg)
			}
			if es[0].Line != c.line {
				t.Errorf("line = %d, want %d: %s", es[0].Line, c.line, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// loadAndExpand parses and resolves every sweep point, as the runner does.
func loadAndExpand(t *testing.T, src string) (*Spec, error) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte(src), 0o644)
	s, source, err := Load(path)
	if err != nil {
		return nil, err
	}
	if s.Sweep != nil {
		for p, param := range s.Sweep.Parameters {
			for _, v := range param.Values {
				if _, err := source.Resolve(map[string]any{p: v}); err != nil {
					return nil, err
				}
			}
		}
	}
	return s, nil
}

func TestResolveSubstitutesAndDropsSweep(t *testing.T) {
	_, src, err := Parse("t.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Resolve(map[string]any{"regularizers.0.weight": 0.5, "train.seed": int64(7), "train.input_noise": 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Regularizers[0].Weight != 0.5 || s.Train.Seed != 7 || s.Train.InputNoise != 0.1 || s.Sweep != nil {
		t.Errorf("resolved spec wrong: %+v %+v sweep=%v", s.Regularizers[0], s.Train, s.Sweep)
	}
}

func TestMissingFileIsAnErrorNamingIt(t *testing.T) {
	_, _, err := Load("/nonexistent/spec.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/spec.yaml") {
		t.Errorf("got %v", err)
	}
}

func TestQuickstartSpecIsValid(t *testing.T) {
	if _, _, err := Load("../../experiments/quickstart.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideReachesSweepParametersWithDottedNames(t *testing.T) {
	out, err := Override("t.yaml", []byte(valid), []string{
		"sweep.parameters.regularizers.0.weight.values=[0.5, 2]", "train.epochs=7", "sweep.seeds=[3]"})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := Parse("t.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	vals := s.Sweep.Parameters["regularizers.0.weight"].Values
	if len(vals) != 2 || s.Train.Epochs != 7 || len(s.Sweep.Seeds) != 1 {
		t.Errorf("override not applied: %v epochs %d seeds %v", vals, s.Train.Epochs, s.Sweep.Seeds)
	}
	if _, err := Override("t.yaml", []byte(valid), []string{"train.epoch=7"}); err == nil || !strings.Contains(err.Error(), "epochs") {
		t.Errorf("a key the spec lacks: %v", err)
	}
}

func TestExplicitZeroSamplesAndEmptyUnitLayersTurnRecordingOff(t *testing.T) {
	s, _, err := Parse("t.yaml", []byte(valid+"record: {activations: {samples: 0}, units: {layers: []}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Record.Activations.Samples != 0 || len(s.Record.Units.Layers) != 0 {
		t.Errorf("record = %+v", s.Record)
	}
	s, _, _ = Parse("t.yaml", []byte(valid))
	if s.Record.Activations.Samples != DefaultActivationSamples || len(s.Record.Units.Layers) != 1 {
		t.Errorf("defaults not applied when omitted: %+v", s.Record)
	}
}

func TestZerosTheFileGivesAreUsedOrRefusedNeverDefaulted(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"{name: adam}", "{name: adam, beta1: 1}", "optimizer.beta1: out of range: 1 (allowed: 0 <= value < 1)"},
		{"{name: adam}", "{name: adam, epsilon: 0}", "optimizer.epsilon: out of range: 0 (allowed: 0 < epsilon <= 1)"},
		{"{name: adam}", "{name: adam, learning_rate: 0}", "optimizer.learning_rate: out of range: 0 (allowed: 0 < learning_rate <= 10)"},
		{"{name: adam}", "{name: sgd, beta1: 0}", "optimizer.beta1: not used by sgd"},
		{"{name: digits}", "{name: digits, validation_fraction: 0}", "dataset.validation_fraction: out of range: 0"},
		{"[{activation: sigmoid}]", "[{units: 0, activation: sigmoid}]", "model.decoder.0.units: invalid unit count 0"},
	} {
		_, _, err := Parse("t.yaml", []byte(strings.Replace(valid, c.from, c.to, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.to, err, c.want)
		}
	}
	// β1 = 0 is Adam without first-moment averaging (the JumpReLU recipe's betas (0, 0.999)).
	if s, _, err := Parse("t.yaml", []byte(strings.Replace(valid, "{name: adam}", "{name: adam, beta1: 0}", 1))); err != nil || s.Optimizer.Beta1 != 0 {
		t.Errorf("beta1: 0 must be used as written: got %v, %v", s, err)
	}
	vae := strings.Replace(valid, "  encoder:", "  kind: vae\n  latent: 2\n  kl_weight: 0\n  encoder:", 1)
	s, _, err := Parse("t.yaml", []byte(vae))
	if err != nil || s.Model.KLWeight != 0 {
		t.Errorf("kl_weight: 0 is a β-VAE with β = 0: got %v, %v", s, err)
	}
}

// --set re-writes the spec; small floats must read back as numbers (go-yaml writes
// 1e-05, which it reads back as a string), or a swept 1.0e-5 becomes a string column.
func TestOverrideKeepsSmallFloatsNumbers(t *testing.T) {
	text := "name: t\nsweep: {parameters: {regularizers.0.weight: {values: [0, 1.0e-5, 1.0e-3, 2.5e+20]}}}\n"
	out, err := Override("s.yaml", []byte(text), []string{"name=u"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sweep struct {
			Parameters map[string]struct{ Values []any }
		}
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	values := doc.Sweep.Parameters["regularizers.0.weight"].Values
	if len(values) != 4 {
		t.Fatalf("values %v", values)
	}
	for i, v := range values {
		if _, ok := v.(string); ok {
			t.Errorf("value %d read back as the string %q:\n%s", i, v, out)
		}
	}
}

// With --set, an error in a key the --set gives names the --set (the command line has
// no line), and one in a key the file gives points at the file's line, not at a line
// of the document re-written with the override.
func TestSetErrorsPointAtTheSetOrTheUsersLine(t *testing.T) {
	data, err := os.ReadFile("../../experiments/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = ParseWithSets("qs.yaml", data, []string{"description=x", "train.epochs=0"})
	var es Errors
	if !errors.As(err, &es) || es[0].Line != 0 || !strings.Contains(err.Error(), "train.epochs") || !strings.Contains(err.Error(), "--set train.epochs=0") {
		t.Errorf("error in a --set key: %v", err)
	}
	bad := strings.Replace(string(data), "batch_size: 32", "batch_size: -1", 1)
	line := 1 + strings.Count(bad[:strings.Index(bad, "batch_size: -1")], "\n")
	_, _, err = ParseWithSets("qs.yaml", []byte(bad), []string{"sweep.seeds=[1, 2, 3]", "record.activations.every=2"})
	if !errors.As(err, &es) || es[0].Line != line || es[0].Key != "train.batch_size" {
		t.Errorf("error in the file with --set: %v, want line %d", err, line)
	}
}
