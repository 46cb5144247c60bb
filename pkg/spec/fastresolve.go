package spec

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
)

// The fast path of Resolve. The slow path writes each run's document out as YAML,
// parses it, walks it and decodes it strictly: about half a millisecond a run, 45 s for
// a 100,000-run sweep. Here the file is decoded once, into a generic document (for
// which keys it gives) and, through JSON, into a Spec without defaults (the spec's json
// and yaml keys are the same names, which TestJSONAndYAMLKeysAgree checks). A run
// copies that Spec and decodes each override's value into the field its path names,
// zeroed first: the same Spec as decoding the whole document with the value set at
// that path, because a JSON object decodes field by field. Defaults and validation are
// the same functions. It reports ok=false on anything unusual (a path it cannot
// follow, a value JSON will not take, a validation error), and Resolve then takes the
// slow path, which finds the same result or the error with its position.

type fastBase struct {
	doc  map[string]any // the file's document, sweep removed
	spec *Spec          // doc decoded, no defaults
}

// fastBases caches each Source's base (keyed by pointer; a Source is immutable once
// parsed); nil: the file does not decode this way, always take the slow path.
var fastBases sync.Map // *Source -> *fastBase

func (src *Source) fastBase() *fastBase {
	if b, ok := fastBases.Load(src); ok {
		return b.(*fastBase)
	}
	b := func() (b *fastBase) {
		defer func() {
			if recover() != nil {
				b = nil
			}
		}()
		var doc map[string]any
		if err := yaml.Unmarshal(src.Data, &doc); err != nil || doc == nil {
			return nil
		}
		delete(doc, "sweep")
		var s Spec
		if decodeJSON(doc, &s) != nil {
			return nil
		}
		return &fastBase{doc: doc, spec: &s}
	}()
	got, _ := fastBases.LoadOrStore(src, b)
	return got.(*fastBase)
}

func decodeJSON(v any, into any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func (src *Source) resolveFast(overrides map[string]any) (s *Spec, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = nil, false
		}
	}()
	base := src.fastBase()
	if base == nil {
		return nil, false
	}
	var spec Spec
	deepCopy(reflect.ValueOf(&spec).Elem(), reflect.ValueOf(base.spec).Elem())
	keys := sortedKeys(overrides)
	for _, k := range keys {
		field, ok := pathField(reflect.ValueOf(&spec).Elem(), strings.Split(k, "."))
		if !ok {
			return nil, false
		}
		if setScalar(field, overrides[k]) {
			continue
		}
		field.SetZero()
		if decodeJSON(overrides[k], field.Addr().Interface()) != nil {
			return nil, false
		}
	}
	ApplyDefaults(&spec, func(key string) bool { return given(base.doc, keys, overrides, key) })
	// Validation messages need key positions: on an error the slow path reports it.
	rsrc := &Source{Path: src.Path, pos: map[string][2]int{}}
	if errs := rsrc.validate(&spec); len(errs) > 0 {
		return nil, false
	}
	return &spec, true
}

// setScalar sets a number, string or bool field to a value of the same kind, as JSON
// would decode it, without JSON; false: leave it to JSON.
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

// pathField follows a dotted path of yaml keys and list indices into v. Only structs and
// lists: a path through a map (sweep parameters) is left to the slow path.
func pathField(v reflect.Value, path []string) (reflect.Value, bool) {
	for _, part := range path {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Struct:
			i, ok := yamlFieldIndex(v.Type())[part]
			if !ok || (v.Type() == reflect.TypeOf(Spec{}) && part == "sweep") {
				return v, false
			}
			v = v.Field(i)
		case reflect.Slice:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= v.Len() || strconv.Itoa(i) != part {
				return v, false
			}
			v = v.Index(i)
		default:
			return v, false
		}
	}
	return v, true
}

var indexCache sync.Map // reflect.Type -> map[string]int

// yamlFieldIndex maps each yaml key of struct type t to its field's index.
func yamlFieldIndex(t reflect.Type) map[string]int {
	if m, ok := indexCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			m[name] = i
		}
	}
	indexCache.Store(t, m)
	return m
}

// deepCopy copies src into dst (same type), sharing no slice, map or pointer.
func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			deepCopy(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			deepCopy(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			deepCopy(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		dst.Set(reflect.ValueOf(copyDoc(src.Interface())))
	default:
		dst.Set(src)
	}
}

// given reports whether the document with the overrides set (keys, sorted) holds key,
// as the slow path's walk records it (every mapping key and list index, null values
// included): an override at or above key decides by its value (the last such, the
// deepest); one below key creates it; else the file decides.
func given(doc map[string]any, keys []string, overrides map[string]any, key string) bool {
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if k == key {
			return overrides[k] != nil // null counts as omitted, as in the file
		}
		if strings.HasPrefix(k, key+".") {
			return true
		}
		if rest, ok := strings.CutPrefix(key, k+"."); ok {
			return docHas(overrides[k], rest)
		}
	}
	return docHas(doc, key)
}

// docHas reports whether the document gives the dotted key a value, as the slow path's
// walk records it: every mapping key and list index whose value is not null.
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
