package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// Every spec of the repository (the examples, the seeds, the bad corpus and the fuzz
// seeds) resolves as the YAML document with the overrides written in would: the same
// spec, or an error for the same key, for each swept value alone and for overrides
// that replace whole subtrees or set null; and each resolved spec's Canonical equals
// its definition (referenceCanonical) byte for byte.
func TestResolveEqualsTheDocumentWithTheValuesWrittenIn(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../experiments/*.yaml", "../../experiments/seeds/*.yaml",
		"../../notebooks/*.yaml", "../../bench/*/*.yaml", "testdata/bad/*.yaml"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	files = append(files, "inline:nulls")
	if len(files) < 20 {
		t.Fatalf("found only %d spec files", len(files))
	}
	extra := []map[string]any{
		{"train.seed": int64(7)},
		{"optimizer": map[string]any{"name": "sgd"}},                  // a whole subtree: defaults from the new one
		{"optimizer.learning_rate": 0.0},                              // a zero that the default replaces
		{"record.activations.layers": nil},                            // null
		{"record.activations.layers": []any{}},                        // present and empty: no default
		{"model.encoder.0": map[string]any{"units": uint64(3)}},       // missing activation: an error
		{"train.epochs": 2.5},                                         // a fraction into an int: an error
		{"train.epochs": "3"},                                         // a string into an int
		{"dataset": map[string]any{"name": "digits", "extra": 1.0}},   // unknown key: an error
		{"regularizers.0.weight": uint64(2), "train.batch_size": 8.0}, // ints as floats and back
		{"model.decoder.0.units": uint64(0)},                          // a zero the file could not hold
		{"model.encoder.0.units": int64(-3)},                          // out of range
		{"optimizer.beta1": 0.0},                                      // a written zero is not defaulted
		{"record.active_threshold": 0.5},                              // a pointer field
		{"dataset.where.epoch": uint64(3)},                            // a map entry
		{"model.encoder": []any{map[string]any{"units": uint64(8), "activation": "tanh"}}},
		{"model.encoder": []any{map[string]any{"units": uint64(8), "activaton": "tanh"}}}, // misspelt key
		{"model.encoder.0": map[string]any{"units": 2.5, "activation": "relu"}},           // a fraction
		{"record.activations.samples": "all"},
		{"record.activations.samples": "some"},
		{"model.sae.k": uint64(100000)},
		{"optimizer.name": "rmsprop"},
		{"optimizer.name": "sgd", "optimizer.beta1": nil, "optimizer.beta2": nil, "optimizer.epsilon": nil},
		{"optimizer.learning_rate": 0.001, "record.activations.every": uint64(5)}, // defaults written out
		{"dataset.validation": "split", "model.kind": "autoencoder"},
		{"model.sae.aux_coefficient": 0.03125, "model.sae.dead_after": uint64(10000000), "model.sae.b_dec_init": "geometric_median"},
		{"model.sae.aux_coefficient": 0.0},
		{"model.sae.aux_k": uint64(3)},
		{"model.sae.aux_k": uint64(8)},
		{"dataset": map[string]any{"name": "synthetic", "synthetic": map[string]any{"dim": uint64(16), "features": uint64(32), "samples": uint64(100), "active": uint64(2)}},
			"model.sae.aux_k": uint64(3)},
		{"dataset": map[string]any{"name": "synthetic", "synthetic": map[string]any{"dim": uint64(16), "features": uint64(32), "samples": uint64(100), "active": uint64(2)}},
			"model.sae.aux_k": uint64(8), "loss": "mse"},
		{"model.kind": "vae", "model.latent": uint64(4)},
		{"model.kind": "vae", "model.latent": uint64(4), "model.kl_weight": 1.0},
		{"description": "x < y & \"z\" é"},
		{"record.units.layers": []any{}},
	}
	compared, refused := 0, 0
	for _, f := range files {
		var data []byte
		var err error
		if f == "inline:nulls" {
			data = []byte("name: n\ndataset: {name: digits, split_seed: ~}\nmodel:\n  encoder: [{units: 4, activation: relu}]\n  decoder: [{activation: sigmoid}]\nloss: mse\noptimizer: {name: adam, learning_rate: }\ntrain: {epochs: 1, batch_size: 8}\nrecord: {units: {layers: }, activations: {layers: [], samples: 0}}\n")
		} else if data, err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		s, src, err := Parse(f, data)
		if err != nil {
			continue // the bad corpus: files that do not parse have nothing to resolve
		}
		sets := append([]map[string]any{{}}, extra...)
		if s.Sweep != nil {
			for path, p := range s.Sweep.Parameters {
				for _, v := range p.Values {
					sets = append(sets, map[string]any{path: v})
				}
				if p.Min != nil {
					sets = append(sets, map[string]any{path: *p.Min})
				}
			}
		}
		for _, o := range sets {
			ref, rerr := src.referenceResolve(o)
			got, gerr := src.Resolve(o)
			switch {
			case rerr != nil && gerr == nil:
				t.Errorf("%s %v: resolved what the document with the value written in refuses (%v)", f, o, rerr)
			case rerr == nil && gerr != nil:
				t.Errorf("%s %v: refused what the document with the value written in accepts: %v", f, o, gerr)
			case rerr != nil:
				var re, ge Errors
				if !errors.As(rerr, &re) || !errors.As(gerr, &ge) {
					t.Errorf("%s %v: errors are not spec.Errors: %v / %v", f, o, rerr, gerr)
				} else if rk, gk := refusedKey(re[0].Key), refusedKey(ge[0].Key); rk != "" && rk != gk {
					t.Errorf("%s %v: refused at key %q, the document at %q:\n%v\n%v", f, o, ge[0].Key, re[0].Key, gerr, rerr)
				}
				refused++
			default:
				if ca, err := Canonical(got); err != nil {
					t.Errorf("%s %v: Canonical: %v", f, o, err)
				} else if cb, err := referenceCanonical(got); err != nil || string(ca) != string(cb) {
					t.Errorf("%s %v: Canonical differs from its definition (%v):\ngot  %s\nwant %s", f, o, err, ca, cb)
				}
				a, _ := json.Marshal(ref)
				b, _ := json.Marshal(got)
				if string(a) != string(b) {
					t.Errorf("%s %v: resolutions differ:\ndocument %s\nresolve  %s", f, o, a, b)
				}
				compared++
			}
		}
	}
	if compared < 50 || refused < 20 {
		t.Errorf("only %d resolutions compared and %d refusals", compared, refused)
	}
}

// referenceResolve is what Resolve must equal: the document with the overrides written
// in, walked for key positions and strictly decoded, as a spec file would be (the
// resolver of earlier versions, about half a millisecond a run).
func (src *Source) referenceResolve(overrides map[string]any) (_ *Spec, err error) {
	defer recoverYAML(src.Path, &err)
	var doc map[string]any
	if err := yaml.Unmarshal(src.Data, &doc); err != nil {
		return nil, src.yamlError(err)
	}
	delete(doc, "sweep")
	keys := sortedKeys(overrides)
	for _, k := range keys {
		if err := setPath(doc, reflect.TypeOf(Spec{}), strings.Split(k, "."), overrides[k]); err != nil {
			return nil, Errors{src.errAt("sweep.parameters."+k, "", "%v", err)}
		}
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	// The resolved bytes get their own key positions, so that a type error in them is
	// attributed to the right key (and then re-located at the sweep parameter).
	rsrc := &Source{Path: src.Path, Data: data, pos: map[string][2]int{}, given: map[string]bool{}}
	var s *Spec
	if file, perr := parser.ParseBytes(data, 0); perr == nil && len(file.Docs) == 1 && file.Docs[0].Body != nil {
		var werrs Errors
		rsrc.walk(file.Docs[0].Body, reflect.TypeOf(Spec{}), "", &werrs)
		if len(werrs) > 0 {
			err = werrs
		}
	}
	if err == nil {
		s, err = func() (*Spec, error) {
			var s Spec
			if err := yaml.UnmarshalWithOptions(data, &s, yaml.Strict()); err != nil {
				return nil, rsrc.yamlError(err)
			}
			ApplyDefaults(&s, rsrc.Given)
			if errs := rsrc.validate(&s); len(errs) > 0 {
				return nil, errs
			}
			return &s, nil
		}()
	}
	if err != nil {
		// Re-locate errors at the sweep parameters: the resolved bytes have no lines
		// the user wrote.
		var es Errors
		if errors.As(err, &es) {
			desc := make([]string, len(keys))
			for i, k := range keys {
				desc[i] = fmt.Sprintf("%s=%v", k, overrides[k])
			}
			for _, e := range es {
				at := "sweep.parameters"
				for _, k := range keys {
					if e.Key == k || strings.HasPrefix(e.Key, k+".") {
						at = "sweep.parameters." + k
					}
				}
				loc := src.errAt(at, e.Allowed, "with %s: %s", strings.Join(desc, ", "), e.Msg)
				loc.Key = at + " -> " + e.Key
				*e = *loc
			}
			return nil, es
		}
		return nil, err
	}
	return s, nil
}

// refusedKey is the key of the spec an error names: after "sweep.parameters.P -> ",
// or P of "sweep.parameters.P" (a path error).
func refusedKey(key string) string {
	if _, after, ok := strings.Cut(key, " -> "); ok {
		return after
	}
	return strings.TrimPrefix(key, "sweep.parameters.")
}

// clone shares no slice, map or pointer with its original, for a spec in which every
// one of them is set: a reference field added to the schema and not to clone fails
// here (the walk finds it set in the original and shared by the copy, or unset in the
// fixture).
func TestCloneSharesNothing(t *testing.T) {
	th := 0.5
	s := Spec{
		Dataset:      Dataset{Where: map[string]any{"a": []any{1}}},
		Model:        Model{Encoder: []Layer{{Units: 1}}, Decoder: []Layer{{Units: 2}}, SAE: SAE{MatryoshkaWidths: []int{4, 8}}},
		Regularizers: []Regularizer{{Layers: []string{"encoder.0"}}},
		Record:       Record{Activations: ActivationsRecord{Layers: []string{"x"}}, Units: UnitsRecord{Layers: []string{"y"}}, ActiveThreshold: &th},
		Metrics:      []string{"mape"},
	}
	c := s.clone()
	var walk func(a, b reflect.Value, path string)
	walk = func(a, b reflect.Value, path string) {
		switch a.Kind() {
		case reflect.Struct:
			for i := range a.NumField() {
				if path == "" && a.Type().Field(i).Name == "Sweep" {
					continue
				}
				walk(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
			}
		case reflect.Slice, reflect.Map, reflect.Pointer:
			if a.IsNil() || (a.Kind() != reflect.Pointer && a.Len() == 0) {
				t.Errorf("fixture leaves %s unset: set it so that the test covers it", path)
				return
			}
			if a.Pointer() == b.Pointer() {
				t.Errorf("clone shares %s", path)
			}
			if a.Kind() == reflect.Slice {
				walk(a.Index(0), b.Index(0), path+"[0]")
			}
		case reflect.Interface:
			if !a.IsNil() && (a.Elem().Kind() == reflect.Slice || a.Elem().Kind() == reflect.Map) && a.Elem().Pointer() == b.Elem().Pointer() {
				t.Errorf("clone shares %s", path)
			}
		}
	}
	walk(reflect.ValueOf(s), reflect.ValueOf(*c), "")
	if !reflect.DeepEqual(&s, c) {
		t.Errorf("clone differs:\n%+v\n%+v", s, *c)
	}
	if c.Dataset.Where["a"].([]any)[0] = 2; s.Dataset.Where["a"].([]any)[0] != 1 {
		t.Errorf("clone shares a where value")
	}
}
