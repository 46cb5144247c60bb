package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// referenceCanonical is what Canonical must equal, byte for byte: the rules written
// as directly as possible (a JSON round trip of the spec per leaf key, about 50 times
// slower). Canonical is a resolved spec's identity: the keys of the run (every key of the
// schema but sweep), by their YAML names, leaving out each key whose value is the one
// ApplyDefaults would give it if it were omitted (zero for keys without a default).
// Writing a default out, or adding a key with a default to the schema, therefore
// leaves the form (and the run id hashed from it) as it was. The result is compact
// JSON with sorted keys:
//
//	{"config":{"dataset":{"name":"digits"},...},"version":"saerun.run/v2"}
func referenceCanonical(s *Spec) ([]byte, error) {
	c := refCanonicalizer{spec: s}
	config, _ := c.value(reflect.ValueOf(s).Elem(), nil)
	if c.err != nil {
		return nil, c.err
	}
	if config == nil {
		config = map[string]any{}
	}
	out := map[string]any{"version": CanonicalVersion, "config": config}
	if s.Model.Kind == "sae" && s.Model.SAE.Activation != "relu" && s.Model.SAE.Activation != "jumprelu" && s.Model.SAE.AuxCoefficient > 0 {
		out["revisions"] = map[string]any{"auxk": 2} // the AuxK loss's revision (canonical.go)
	}
	return json.Marshal(out)
}

type refCanonicalizer struct {
	spec *Spec
	err  error
}

// value returns v's canonical form and whether it is kept (false: at its default).
func (c *refCanonicalizer) value(v reflect.Value, path []string) (any, bool) {
	switch {
	case v.Kind() == reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" || (len(path) == 0 && (name == "sweep" || name == "description")) {
				continue
			}
			if fv, keep := c.value(v.Field(i), append(path[:len(path):len(path)], name)); keep {
				out[name] = fv
			}
		}
		// A struct in a list keeps its place even when every key is at its default.
		return out, len(out) > 0 || (len(path) > 0 && refIsIndex(path[len(path)-1]))
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct && v.Len() > 0:
		out := make([]any, v.Len())
		for i := range out {
			out[i], _ = c.value(v.Index(i), append(path[:len(path):len(path)], strconv.Itoa(i)))
		}
		return out, true
	}
	def, err := c.isDefault(path)
	if err != nil {
		c.err = err
	}
	if def {
		return nil, false
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, true
		}
		return v.Elem().Interface(), true
	}
	return v.Interface(), true
}

// isDefault reports whether the key at path holds what ApplyDefaults gives it when it
// is omitted from a spec that is otherwise this one.
func (c *refCanonicalizer) isDefault(path []string) (bool, error) {
	data, err := json.Marshal(c.spec)
	if err != nil {
		return false, err
	}
	var omitted Spec
	if err := json.Unmarshal(data, &omitted); err != nil {
		return false, err
	}
	key := strings.Join(path, ".")
	f, err := refFieldAt(reflect.ValueOf(&omitted).Elem(), path)
	if err != nil {
		return false, err
	}
	f.SetZero()
	ApplyDefaults(&omitted, func(k string) bool { return k != key })
	orig, _ := refFieldAt(reflect.ValueOf(c.spec).Elem(), path)
	return refSameValue(orig, f), nil
}

// sameValue is reflect.DeepEqual, with every empty list equal (nil or []).
func refSameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// fieldAt follows a dotted path of YAML names and list indices from v.
func refFieldAt(v reflect.Value, path []string) (reflect.Value, error) {
	for _, p := range path {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Struct:
			i := refFieldIndex(v.Type(), p)
			if i < 0 {
				return reflect.Value{}, fmt.Errorf("spec has no key %q", strings.Join(path, "."))
			}
			v = v.Field(i)
		case reflect.Slice:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= v.Len() {
				return reflect.Value{}, fmt.Errorf("spec has no key %q", strings.Join(path, "."))
			}
			v = v.Index(i)
		default:
			return reflect.Value{}, fmt.Errorf("spec has no key %q", strings.Join(path, "."))
		}
	}
	return v, nil
}

func refFieldIndex(t reflect.Type, name string) int {
	for i := 0; i < t.NumField(); i++ {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); n == name {
			return i
		}
	}
	return -1
}

func refIsIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
