package spec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// One resolve path, for a file and for each point of its sweep. Parse decodes the file
// once, strictly, into raw (no defaults) and records which keys it writes (given). A
// point copies raw, sets each overridden field (a scalar directly; a list or mapping
// through the same strict YAML decoder and key walk as the file), and derives its
// written-keys set from the file's and the overrides': an override at or above a key
// decides whether it is written, else the file does. Defaults and validation then run
// with that set, so a swept value is accepted or refused exactly as the same value
// written in the file would be, and no YAML is written or parsed per run (except for a
// swept list or mapping).

// Resolve returns the spec with each dotted path in overrides replaced by its value and
// the sweep section removed: the configuration of one run. Errors point at the sweep
// parameter that set the bad value and name the key that refused it.
func (src *Source) Resolve(overrides map[string]any) (*Spec, error) {
	return src.resolve(overrides, false)
}

// resolve copies the file's spec, applies overrides, defaults and validates it; sweep
// says whether the sweep section is kept (the file itself) or dropped (a run).
func (src *Source) resolve(overrides map[string]any, sweep bool) (_ *Spec, err error) {
	defer recoverYAML(src.Path, &err)
	s := src.raw.clone()
	if sweep {
		s.Sweep = src.raw.Sweep // the file's own spec (Parse, once); runs never read raw's sweep
	}
	dst := reflect.ValueOf(s).Elem()
	run := src
	if len(overrides) > 0 {
		r := *src
		r.over, r.overKeys = overrides, sortedKeys(overrides)
		run = &r
		for _, k := range run.overKeys {
			if errs := setOverride(dst, k, overrides[k]); len(errs) > 0 {
				return nil, run.relocate(errs)
			}
		}
	}
	ApplyDefaults(s, run.Given)
	if errs := run.validate(s); len(errs) > 0 {
		return nil, run.relocate(errs)
	}
	return s, nil
}

// Given reports whether the document gives key (a dotted path) a non-null value: the
// presence set that decides where a default applies. With overrides (a sweep point),
// the last override at or above key decides by its value (null counts as omitted), one
// below key creates it, else the file decides.
func (src *Source) Given(key string) bool {
	for i := len(src.overKeys) - 1; i >= 0; i-- {
		k := src.overKeys[i]
		if k == key {
			return src.over[k] != nil
		}
		if len(k) > len(key) && k[len(key)] == '.' && strings.HasPrefix(k, key) {
			return true
		}
		if len(key) > len(k) && key[len(k)] == '.' && strings.HasPrefix(key, k) {
			return docHas(src.over[k], key[len(k)+1:])
		}
	}
	return src.given[key]
}

// relocate moves errors found in a sweep point to the sweep parameter that set the
// value (the resolved document has no lines the user wrote): key "sweep.parameters.P
// -> the.key", message prefixed with the point's values. Without overrides (the file
// itself) errors stay where they are.
func (src *Source) relocate(errs Errors) Errors {
	if len(src.overKeys) == 0 {
		return errs
	}
	desc := make([]string, len(src.overKeys))
	for i, k := range src.overKeys {
		desc[i] = fmt.Sprintf("%s=%v", k, src.over[k])
	}
	out := make(Errors, len(errs))
	for i, e := range errs {
		at := "sweep.parameters"
		for _, k := range src.overKeys {
			if e.Key == k || strings.HasPrefix(e.Key, k+".") {
				at = "sweep.parameters." + k
			}
		}
		loc := src.errAt(at, e.Allowed, "with %s: %s", strings.Join(desc, ", "), e.Msg)
		loc.Key = at + " -> " + e.Key
		out[i] = loc
	}
	return out
}

// setOverride sets the field at the dotted key of v (a Spec) to value, as the file
// would if it wrote value there; errors name the key.
func setOverride(v reflect.Value, key string, value any) Errors {
	path := strings.Split(key, ".")
	fail := func(format string, args ...any) Errors {
		return Errors{{Key: key, Msg: fmt.Sprintf(format, args...)}}
	}
	for i, part := range path {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Struct:
			idx, ok := yamlFieldIndex(v.Type())[part]
			if !ok || (v.Type() == reflect.TypeOf(Spec{}) && part == "sweep") {
				names := sortedKeys(yamlFieldIndex(v.Type()))
				names = slices.DeleteFunc(names, func(n string) bool { return v.Type() == reflect.TypeOf(Spec{}) && n == "sweep" })
				return fail("%q names no key of the spec; allowed here: %s", part, oneOf(names))
			}
			v = v.Field(idx)
		case reflect.Slice:
			n, err := strconv.Atoi(part)
			if err != nil || n < 0 || strconv.Itoa(n) != part || n >= v.Len() {
				if v.Len() == 0 {
					return fail("%q is not set in the spec, so %q cannot index it", path[i-1], part)
				}
				return fail("index %q out of range: the list has %d entries (0..%d)", part, v.Len(), v.Len()-1)
			}
			v = v.Index(n)
		case reflect.Map:
			if i != len(path)-1 {
				return fail("%q is a single value; it has no key %q", part, path[i+1])
			}
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			if errs := decodeInto(elem, key, value); len(errs) > 0 {
				return errs
			}
			v.SetMapIndex(reflect.ValueOf(part), elem)
			return nil
		default:
			return fail("%q is a single value; it has no key %q", path[i-1], part)
		}
	}
	return decodeInto(v, key, value)
}

// decodeInto sets field to value: a number, string or bool of the field's kind
// directly, anything else (a list, a mapping, "all", a mismatched type) through the
// file's strict YAML decoder and key walk, so that it is refused as the file refuses it.
func decodeInto(field reflect.Value, key string, value any) Errors {
	if value == nil {
		field.SetZero()
		return nil
	}
	if setScalar(field, value) {
		return nil
	}
	if field.Kind() == reflect.Pointer {
		p := reflect.New(field.Type().Elem())
		if setScalar(p.Elem(), value) {
			field.Set(p)
			return nil
		}
	}
	data, err := yaml.Marshal(plainFloats(copyDoc(value)))
	if err != nil {
		return Errors{{Key: key, Msg: fmt.Sprintf("cannot encode %v: %v", value, err)}}
	}
	tmp := &Source{Path: key, pos: map[string][2]int{}, given: map[string]bool{}}
	if file, perr := parser.ParseBytes(data, 0); perr == nil && len(file.Docs) == 1 && file.Docs[0].Body != nil {
		tmp.pos[key] = [2]int{1, 1}
		var errs Errors
		tmp.walk(file.Docs[0].Body, field.Type(), key, &errs)
		if len(errs) > 0 {
			return errs
		}
	}
	field.SetZero()
	if err := yaml.UnmarshalWithOptions(data, field.Addr().Interface(), yaml.Strict()); err != nil {
		var es Errors
		if errors.As(tmp.yamlError(err), &es) {
			for _, e := range es {
				if e.Key == "" {
					e.Key = key
				}
			}
			return es
		}
		return Errors{{Key: key, Msg: err.Error()}}
	}
	return nil
}

// setScalar sets a number, string or bool field to a value of the same kind, as the
// YAML decoder would; false: leave it to the decoder (which accepts or refuses it).
func setScalar(field reflect.Value, value any) bool {
	switch field.Kind() {
	case reflect.Float64:
		switch v := value.(type) {
		case float64:
			field.SetFloat(v)
			return true
		case int64:
			field.SetFloat(float64(v))
			return true
		case uint64:
			field.SetFloat(float64(v))
			return true
		}
	case reflect.Int, reflect.Int64:
		switch v := value.(type) {
		case int64:
			if !field.OverflowInt(v) {
				field.SetInt(v)
				return true
			}
		case uint64:
			if v <= math.MaxInt64 && !field.OverflowInt(int64(v)) {
				field.SetInt(int64(v))
				return true
			}
		}
	case reflect.String:
		if v, ok := value.(string); ok {
			field.SetString(v)
			return true
		}
	case reflect.Bool:
		if v, ok := value.(bool); ok {
			field.SetBool(v)
			return true
		}
	}
	return false
}

// docHas reports whether a decoded YAML document gives the dotted key a non-null
// value, as the file's walk records it: every mapping key and list index.
func docHas(doc any, key string) bool {
	for _, part := range strings.Split(key, ".") {
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[part]
			if !ok {
				return false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(d) {
				return false
			}
			doc = d[i]
		default:
			return false
		}
	}
	return doc != nil
}

// copyDoc deep-copies a decoded YAML document (maps, lists and scalars).
func copyDoc(v any) any {
	switch d := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(d))
		for k, x := range d {
			m[k] = copyDoc(x)
		}
		return m
	case []any:
		l := make([]any, len(d))
		for i, x := range d {
			l[i] = copyDoc(x)
		}
		return l
	}
	return v
}

// clone is a deep copy of s without its sweep: the copy each sweep point starts from
// (written out, since a sweep makes one per run; TestCloneSharesNothing checks that it
// covers every slice, map and pointer of the schema).
func (s *Spec) clone() *Spec {
	c := *s
	c.Sweep = nil
	if s.Dataset.Where != nil {
		c.Dataset.Where = copyDoc(s.Dataset.Where).(map[string]any)
	}
	c.Model.Encoder = slices.Clone(s.Model.Encoder)
	c.Model.Decoder = slices.Clone(s.Model.Decoder)
	c.Model.SAE.MatryoshkaWidths = slices.Clone(s.Model.SAE.MatryoshkaWidths)
	c.Regularizers = slices.Clone(s.Regularizers)
	for i := range c.Regularizers {
		c.Regularizers[i].Layers = slices.Clone(s.Regularizers[i].Layers)
	}
	c.Record.Activations.Layers = slices.Clone(s.Record.Activations.Layers)
	c.Record.Units.Layers = slices.Clone(s.Record.Units.Layers)
	if s.Record.ActiveThreshold != nil {
		th := *s.Record.ActiveThreshold
		c.Record.ActiveThreshold = &th
	}
	c.Metrics = slices.Clone(s.Metrics)
	return &c
}
