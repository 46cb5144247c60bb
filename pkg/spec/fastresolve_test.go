package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Every spec of the repository (the examples, the seeds, the bad corpus and the fuzz
// seeds) resolves the same through the fast path as through YAML, for each swept
// value alone and for overrides that replace whole subtrees or set null.
func TestResolveFastEqualsSlow(t *testing.T) {
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
	}
	compared := 0
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
			slow, serr := src.resolveSlow(o)
			fast, ok := src.resolveFast(o)
			if ok && serr != nil {
				t.Errorf("%s %v: fast path resolved what the slow path refuses (%v)", f, o, serr)
				continue
			}
			if ok {
				a, _ := json.Marshal(slow)
				b, _ := json.Marshal(fast)
				if string(a) != string(b) {
					t.Errorf("%s %v: fast and slow paths differ:\nslow %s\nfast %s", f, o, a, b)
				}
				compared++
			}
		}
	}
	if compared < 50 {
		t.Errorf("only %d resolutions compared", compared)
	}
}

// The fast path decodes through JSON: every key of the schema must have the same name
// in its json tag as in its yaml tag (else JSON would drop or misplace it).
func TestJSONAndYAMLKeysAgree(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var check func(reflect.Type, string)
	check = func(tp reflect.Type, path string) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice || tp.Kind() == reflect.Map {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || seen[tp] {
			return
		}
		seen[tp] = true
		for i := 0; i < tp.NumField(); i++ {
			f := tp.Field(i)
			y, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if y == "sweep" && path == "" {
				continue
			}
			if y != j {
				t.Errorf("%s%s: yaml key %q, json key %q", path, f.Name, y, j)
			}
			check(f.Type, path+f.Name+".")
		}
	}
	check(reflect.TypeOf(Spec{}), "")
}
