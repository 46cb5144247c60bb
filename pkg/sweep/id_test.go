package sweep

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
)

// The quickstart's run ids, pinned: a change here re-runs every finished sweep on
// --resume, so it must be deliberate (a new spec.CanonicalVersion) and announced.
var quickstartIDs = []string{ // saerun.run/v2 (v1 hashed the description too)
	"7577497a2501", "0016e94b3fd5", "f40ce3133534", "99904241438d", "87d333b3c1e0", "70ae1b5d1cd1",
	"1d3314fa425b", "74b80e1c9ca2", "325f319a1dd0", "4ada2ecd54ce", "bf93863362c8", "f97d173658ac",
	"9b8609d7da37", "5a93a1ef5d3d", "7ab338f8641a", "1d97d53b1884", "0aad48bc40ea", "e509c6580479",
}

func TestQuickstartRunIDsAreGolden(t *testing.T) {
	s, src, err := spec.Load("../../experiments/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Expand(s, src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID)
	}
	if !reflect.DeepEqual(got, quickstartIDs) {
		t.Errorf("quickstart run ids changed:\n got %q\nwant %q", got, quickstartIDs)
	}
	if want := `"version":"` + spec.CanonicalVersion + `"`; !strings.Contains(string(runs[0].Canonical), want) {
		t.Errorf("canonical form lacks its version %s: %s", want, runs[0].Canonical)
	}
}

// Specs covering each optimizer, model kind, validation source and regularizer kind.
var identityBases = map[string]string{
	"adam-kl": base,
	"sae-batchtopk": `name: s
dataset: {name: synthetic, synthetic: {dim: 16, features: 32, samples: 500, active: 2}}
model:
  kind: sae
  sae: {latents: 64, activation: batchtopk, k: 4, normalize: unit_mean_squared_norm}
loss: mse_sum
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
`,
	"sae-jumprelu": `name: s
dataset: {name: digits}
model:
  kind: sae
  sae: {latents: 64, activation: jumprelu, l0_coefficient: 0.01}
loss: mse
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
`,
	"sgd-l1-decay": `name: s
dataset: {name: digits, split_seed: 3}
model:
  encoder: [{units: 8, activation: relu}, {units: 4, activation: relu}]
  decoder: [{units: 8, activation: relu}, {activation: sigmoid}]
loss: bce
optimizer: {name: sgd, momentum: 0.5}
train: {epochs: 1, batch_size: 32}
regularizers:
  - {kind: l1_activity, layer: encoder.1, weight: 0.1}
  - {kind: weight_decay, weight: 0.01}
record:
  reconstructions: {samples: 4}
`,
	"vae": `name: s
dataset: {name: mnist, validation: test, max_train_samples: 100}
model:
  kind: vae
  latent: 2
  encoder: [{units: 8, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: bce_sum
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 1, batch_size: 32, input_noise: 0.1}
record:
  generated: {samples: 4, every: 2}
  active_threshold: 0.2
metrics: [mape]
`,
}

// Writing out a key at its default value must keep the run id: this is what lets a key
// with a default join the schema without changing any existing id. The walk covers
// every key of the schema by reflection, so a key added later is checked too.
func TestWritingADefaultOutKeepsTheRunID(t *testing.T) {
	checked := map[string]bool{}
	for name, text := range identityBases {
		s, src, err := spec.Parse("s.yaml", []byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := canonicalOf(t, s)
		for _, path := range leafPaths(reflect.ValueOf(s).Elem(), "") {
			if src.Given(path) {
				continue
			}
			v := valueAt(t, s, path)
			if v.Kind() == reflect.Pointer && v.IsNil() {
				continue // null: the same as omitted
			}
			value, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			set := path + "=" + string(value)
			data, err := spec.Override("s.yaml", []byte(text), []string{set})
			if err != nil {
				t.Fatalf("%s: %s: %v", name, set, err)
			}
			s2, _, err := spec.Parse("s.yaml", data)
			if err != nil {
				// A key that does not apply here (beta1 for sgd) is refused when written,
				// naming it or its section (model.sae with another kind, for a null list).
				if !strings.Contains(err.Error(), path) && !namesSection(err, path) {
					t.Errorf("%s: --set %s refused without naming the key: %v", name, set, err)
				}
				continue
			}
			checked[path] = true
			if got := canonicalOf(t, s2); got != want {
				t.Errorf("%s: --set %s changes the canonical form:\n got %s\nwant %s", name, set, got, want)
			}
		}
	}
	for _, key := range []string{"dataset.validation_fraction", "optimizer.beta1", "optimizer.learning_rate",
		"model.kl_weight", "model.kind", "train.seed", "record.units.layers", "record.activations.samples", "model.sae.aux_k"} {
		if !checked[key] {
			t.Errorf("%s was never checked at its default", key)
		}
	}
	if len(checked) < 25 {
		t.Errorf("only %d keys checked: %v", len(checked), checked)
	}
}

// Every key kept in the canonical form is one the file gave: keys left to their
// defaults (however many the schema grows) are left out.
func TestCanonicalFormHoldsOnlyGivenKeys(t *testing.T) {
	for name, text := range identityBases {
		s, src, err := spec.Parse("s.yaml", []byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(canonicalOf(t, s)), &doc); err != nil {
			t.Fatal(err)
		}
		for _, path := range jsonLeaves(doc["config"], "") {
			if !src.Given(path) {
				t.Errorf("%s: canonical form holds %s, which the file omits", name, path)
			}
		}
	}
}

func TestSweepingThroughZeroGivesDistinctRuns(t *testing.T) {
	runs, err := expand(t, `sweep:
  parameters:
    regularizers.0.weight: {values: [0, 1]}
    train.input_noise: {values: [0, 0.1]}
`)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range runs {
		ids[r.ID] = true
	}
	if len(ids) != 4 || runs[0].Spec.Regularizers[0].Weight != 0 || runs[0].Spec.Train.InputNoise != 0 {
		t.Errorf("%d distinct ids of %d runs; first run %+v %+v", len(ids), len(runs), runs[0].Spec.Regularizers[0], runs[0].Spec.Train)
	}
}

func canonicalOf(t *testing.T, s *spec.Spec) string {
	t.Helper()
	c, err := spec.Canonical(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

// leafPaths lists the dotted paths of v's keys that hold values (not sections).
// namesSection reports whether err names a section above path ("model.sae: ...").
func namesSection(err error, path string) bool {
	for i := strings.LastIndex(path, "."); i > 0; i = strings.LastIndex(path[:i], ".") {
		if strings.Contains(err.Error(), " "+path[:i]+": ") {
			return true
		}
	}
	return false
}

func leafPaths(v reflect.Value, prefix string) []string {
	var out []string
	switch {
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "sweep" {
				continue
			}
			out = append(out, leafPaths(v.Field(i), join(prefix, name))...)
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		for i := 0; i < v.Len(); i++ {
			out = append(out, leafPaths(v.Index(i), join(prefix, strconv.Itoa(i)))...)
		}
	default:
		out = append(out, prefix)
	}
	return out
}

func valueAt(t *testing.T, s *spec.Spec, path string) reflect.Value {
	v := reflect.ValueOf(s).Elem()
	for _, p := range strings.Split(path, ".") {
		if v.Kind() == reflect.Slice {
			i, _ := strconv.Atoi(p)
			v = v.Index(i)
			continue
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			if n, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ","); n == p {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			t.Fatalf("no key %s", path)
		}
	}
	return v
}

func jsonLeaves(v any, prefix string) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, jsonLeaves(e, join(prefix, k))...)
		}
		return out
	case []any:
		if len(x) > 0 {
			if _, ok := x[0].(map[string]any); ok {
				var out []string
				for i, e := range x {
					out = append(out, jsonLeaves(e, join(prefix, fmt.Sprint(i)))...)
				}
				return out
			}
		}
	}
	return []string{prefix}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// The β-VAE sweep of the issue: kl_weight through 0 is three distinct runs, 0 kept.
func TestKLWeightSweepsThroughZero(t *testing.T) {
	s, src, err := spec.Parse("s.yaml", []byte(identityBases["vae"]+"sweep: {parameters: {model.kl_weight: {values: [0, 0.5, 1]}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Expand(s, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Spec.Model.KLWeight != 0 || runs[1].Spec.Model.KLWeight != 0.5 || runs[2].Spec.Model.KLWeight != 1 {
		t.Fatalf("%d runs: %+v", len(runs), runs)
	}
	// kl_weight 1 is the default: the same run as a spec that omits it.
	omitted, osrc, err := spec.Parse("s.yaml", []byte(identityBases["vae"]))
	if err != nil {
		t.Fatal(err)
	}
	base, err := Expand(omitted, osrc)
	if err != nil {
		t.Fatal(err)
	}
	if runs[2].ID != base[0].ID || runs[0].ID == base[0].ID {
		t.Errorf("ids: kl_weight 0 %s, 1 %s, omitted %s", runs[0].ID, runs[2].ID, base[0].ID)
	}
}

// A documentation-only key (spec.DocumentationKeys: the free-text description) never
// changes a run id, whatever it holds: omitted, empty, edited, hostile text.
func TestDocumentationOnlyKeysNeverChangeARunID(t *testing.T) {
	if len(spec.DocumentationKeys) == 0 {
		t.Fatal("no documentation keys declared")
	}
	for _, key := range spec.DocumentationKeys {
		if !spec.ValidPath(key) {
			t.Errorf("documentation key %q names no key of the schema", key)
		}
		for name, text := range identityBases {
			s, _, err := spec.Parse("s.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			want := canonicalOf(t, s)
			for _, v := range []string{`""`, `"x"`, `"KL sparsity on digits, sweeping beta and rho"`,
				`"<img src=x onerror=alert(1)> & \u00e9\n\"q\""`, `"` + strings.Repeat("long ", 500) + `"`} {
				data, err := spec.Override("s.yaml", []byte(text), []string{key + "=" + v})
				if err != nil {
					t.Fatal(err)
				}
				s2, _, err := spec.Parse("s.yaml", data)
				if err != nil {
					t.Fatalf("%s: %s=%s: %v", name, key, v, err)
				}
				if got := canonicalOf(t, s2); got != want {
					t.Errorf("%s: %s=%s changes the canonical form:\n got %s\nwant %s", name, key, v, got, want)
				}
			}
		}
	}
}
