package spec_test

import (
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// Specs that between them give every key of the schema a place to be written.
var zeroBases = map[string]string{
	"adam-kl-grid": `name: s
description: d
dataset: {name: digits, split_seed: 3, max_train_samples: 100, max_validation_samples: 50}
model:
  encoder: [{units: 8, activation: sigmoid}]
  decoder: [{units: 64, activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 0.001}
train: {epochs: 1, batch_size: 32, seed: 1, input_noise: 0.1}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 3}
record:
  activations: {layers: [encoder.0], samples: 16, every: 2}
  units: {layers: [encoder.0], every: 2}
  reconstructions: {samples: 4, every: 2}
  active_threshold: 0.2
metrics: [mape]
sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.1, 1]}
  seeds: [1, 2]
`,
	"sgd-decay-random": `name: s
dataset: {name: digits, validation: split, validation_fraction: 0.3}
model:
  kind: autoencoder
  encoder: [{units: 8, activation: relu}]
  decoder: [{units: 64, activation: sigmoid}]
loss: bce
optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.5}
train: {epochs: 1, batch_size: 32}
regularizers:
  - {kind: weight_decay, layers: [encoder.0], weight: 0.01}
  - {kind: l1_activity, layer: encoder.0, weight: 0.01}
sweep:
  method: random
  count: 3
  seed: 4
  parameters:
    regularizers.0.weight: {min: 0.001, max: 0.1, distribution: log_uniform}
`,
	"synthetic": `name: s
dataset:
  name: synthetic
  synthetic: {dim: 8, features: 16, samples: 100, active: 2, seed: 1}
model:
  encoder: [{units: 16, activation: relu}]
  decoder: [{activation: linear}]
loss: mse_sum
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
`,
	"parquet": `name: s
dataset: {name: parquet, path: acts/, column: activation, where: {epoch: 3, layer: encoder.0}}
model:
  encoder: [{units: 16, activation: relu}]
  decoder: [{activation: linear}]
loss: mse
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
`,
	"vae": `name: s
dataset: {name: mnist, validation: test}
model:
  kind: vae
  latent: 2
  kl_weight: 0.5
  encoder: [{units: 8, activation: relu}]
  decoder: [{units: 784, activation: sigmoid}]
loss: bce_sum
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
record:
  generated: {samples: 4, every: 2}
`,
	"sae-matryoshka": `name: s
dataset:
  name: synthetic
  synthetic: {dim: 8, features: 16, samples: 100, active: 2, seed: 1}
model:
  kind: sae
  sae: {latents: 16, activation: matryoshka_batchtopk, k: 2, matryoshka_widths: [4, 16]}
loss: mse_sum
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
`,
}

// TestEveryKeyWrittenAsZeroIsUsedOrRefused walks the schema by reflection and writes
// each numeric key as 0 and each string key as "" into specs that give it a meaning.
// The spec must then hold exactly that value (no default replaced it), or be refused
// with an error that names the key (exit 2 in the CLI). A key added to the schema
// later is walked too.
func TestEveryKeyWrittenAsZeroIsUsedOrRefused(t *testing.T) {
	tried := map[string]bool{}
	for name, text := range zeroBases {
		s, _, err := spec.Parse("s.yaml", []byte(text))
		if err != nil {
			t.Fatalf("base %s: %v", name, err)
		}
		for _, leaf := range schemaLeaves(reflect.ValueOf(s).Elem(), "") {
			zero := "0"
			if leaf.kind == reflect.String {
				zero = "''"
			}
			set := leaf.path + "=" + zero
			data, err := spec.Override("s.yaml", []byte(text), []string{set})
			if err != nil && strings.Contains(err.Error(), "cannot index") {
				continue // a list this file leaves to its default
			}
			if err != nil {
				t.Fatalf("%s: --set %s: %v", name, set, err)
			}
			tried[leaf.path] = true
			got, src, err := spec.Parse("s.yaml", data)
			if err == nil {
				_, err = sweep.Expand(got, src)
			}
			if err != nil {
				var es spec.Errors
				if !errors.As(err, &es) {
					t.Errorf("%s: %s refused without a spec error: %v", name, set, err)
				} else if !namesKey(es, leaf.path) {
					t.Errorf("%s: %s refused, but no error names the key: %v", name, set, err)
				}
				continue
			}
			if v := at(reflect.ValueOf(got).Elem(), leaf.path); !v.IsValid() || !v.IsZero() {
				t.Errorf("%s: %s accepted but the spec holds %v: a default replaced the value written", name, set, v)
			}
		}
	}
	// Every numeric and string key of the schema was tried in some base.
	for _, path := range typeLeaves(reflect.TypeOf(spec.Spec{}), "") {
		if !tried[path] {
			t.Errorf("key %s is in no base spec of this test: add it to one", path)
		}
	}
}

func namesKey(es spec.Errors, path string) bool {
	for _, e := range es {
		for _, k := range strings.Split(e.Key, " -> ") {
			if k == path || strings.HasPrefix(path, k+".") {
				return true
			}
		}
	}
	return false
}

type leaf struct {
	path string
	kind reflect.Kind
}

// schemaLeaves lists the numeric and string keys a spec value can hold, with list
// elements and map entries by their index or key.
func schemaLeaves(v reflect.Value, prefix string) []leaf {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsNil() {
			v = reflect.New(t).Elem()
		} else {
			v = v.Elem()
		}
	}
	var out []leaf
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				out = append(out, schemaLeaves(v.Field(i), join(prefix, name))...)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			out = append(out, schemaLeaves(v.Index(i), join(prefix, strconv.Itoa(i)))...)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			out = append(out, schemaLeaves(v.MapIndex(k), join(prefix, k.String()))...)
		}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64, reflect.String:
		out = append(out, leaf{prefix, t.Kind()})
	}
	return out
}

// typeLeaves is schemaLeaves over the type: lists as element 0, maps as element "*".
func typeLeaves(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				out = append(out, typeLeaves(t.Field(i).Type, join(prefix, name))...)
			}
		}
	case reflect.Slice:
		out = append(out, typeLeaves(t.Elem(), join(prefix, "0"))...)
	case reflect.Map:
		out = append(out, typeLeaves(t.Elem(), join(prefix, "regularizers.0.weight"))...)
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64, reflect.String:
		out = append(out, prefix)
	}
	return out
}

// at follows a dotted path (map keys may hold dots: sweep parameters).
func at(v reflect.Value, path string) reflect.Value {
	parts := strings.Split(path, ".")
	for i := 0; i < len(parts); i++ {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		p := parts[i]
		switch v.Kind() {
		case reflect.Struct:
			found := false
			for j := 0; j < v.NumField(); j++ {
				if n, _, _ := strings.Cut(v.Type().Field(j).Tag.Get("yaml"), ","); n == p {
					v, found = v.Field(j), true
					break
				}
			}
			if !found {
				return reflect.Value{}
			}
		case reflect.Slice:
			k, err := strconv.Atoi(p)
			if err != nil || k >= v.Len() {
				return reflect.Value{}
			}
			v = v.Index(k)
		case reflect.Map:
			// the longest key that the map holds
			for j := len(parts); j > i; j-- {
				if e := v.MapIndex(reflect.ValueOf(strings.Join(parts[i:j], "."))); e.IsValid() {
					v, i = e, j-1
					break
				}
			}
			if v.Kind() == reflect.Map {
				return reflect.Value{}
			}
		default:
			return reflect.Value{}
		}
	}
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	return v
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
