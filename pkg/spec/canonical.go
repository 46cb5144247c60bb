package spec

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// CanonicalVersion names the rules of Canonical. It is part of the canonical form, so
// a change of the rules is a new version (and new run ids), never a silent one. The
// default values are part of the rules: a new key with a default keeps every id, but
// changing an existing default changes what the runs that omit the key compute without
// changing their ids, so such a change needs a new version.
//
// v2 leaves out the documentation-only keys (DocumentationKeys): v1 hashed
// description, so editing a sweep's free text changed every run id.
const CanonicalVersion = "saerun.run/v2"

// Revisions of a feature's computation after CanonicalVersion: a run that uses the
// feature carries its revision in its canonical form ("revisions", between "config"
// and "version"), so that the change gives new ids to exactly the runs it changes,
// where a new CanonicalVersion would change every id.
//
// auxk 2: the AuxK term is α · V · AuxK, V the batch's variance in the loss's units,
// so that α means what OpenAI's does at any scale of the data (issue 24; revision 1,
// before it, was α · AuxK beside an unnormalised reconstruction loss).
func revisions(s *Spec) []revision {
	if s.Model.Kind == "sae" && s.Model.SAE.UsesAuxK() {
		return []revision{{"auxk", 2}}
	}
	return nil
}

// revision is one feature's revision; revisions lists them sorted by name.
type revision struct {
	name string
	n    int
}

// DocumentationKeys are the keys that describe an experiment without changing what
// it computes: Canonical leaves them out, so they never change a run id.
var DocumentationKeys = []string{"description"}

// Canonical is a resolved spec's identity: the keys of the run (every key of the
// schema but sweep and DocumentationKeys), by their YAML names, leaving out each key whose value is the one
// ApplyDefaults would give it if it were omitted (zero for keys without a default).
// Writing a default out, or adding a key with a default to the schema, therefore
// leaves the form (and the run id hashed from it) as it was. The result is compact
// JSON with sorted keys, as encoding/json writes it:
//
//	{"config":{"dataset":{"name":"digits"},...},"version":"saerun.run/v2"}
//
// with "revisions" between them for a run using a revised feature (revisions).
//
// A sweep computes it for every run, so it is written directly (no JSON round trip,
// no map), with the defaults read from their declarations (atDefault);
// TestResolveEqualsTheDocumentWithTheValuesWrittenIn holds it to the rule written out
// literally (referenceCanonical).
func Canonical(s *Spec) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, 512), s)
}

// AppendCanonical appends Canonical(s) to buf (a sweep reuses one buffer per worker).
func AppendCanonical(buf []byte, s *Spec) ([]byte, error) {
	w := canonicalWriter{defaults: atDefault(s), buf: buf}
	w.buf = append(w.buf, `{"config":`...)
	w.object(reflect.ValueOf(s).Elem(), infoOf(reflect.TypeFor[Spec]()), true)
	if w.err != nil {
		return nil, w.err
	}
	if revs := revisions(s); len(revs) > 0 {
		w.buf = append(w.buf, `,"revisions":{`...)
		for i, r := range revs {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = strconv.AppendInt(append(strconv.AppendQuote(w.buf, r.name), ':'), int64(r.n), 10)
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, `,"version":"`+CanonicalVersion+`"}`...)
	return w.buf, nil
}

type canonicalWriter struct {
	defaults defaultSet
	buf      []byte
	err      error
}

// object writes struct v's kept keys in sorted order; false (and nothing written)
// when none is kept, unless always.
func (w *canonicalWriter) object(v reflect.Value, info *structInfo, always bool) bool {
	if !always && v.IsZero() && !w.defaults.nonDefaultWithin(v.UnsafeAddr(), v.Type().Size()) {
		return false // every key zero, and zero is each one's default (model.sae of an autoencoder)
	}
	start := len(w.buf)
	w.buf = append(w.buf, '{')
	n := 0
	for _, f := range info.sorted {
		mark := len(w.buf)
		if n > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, f.quoted...)
		if w.value(v.Field(f.index), f.sub) {
			n++
		} else {
			w.buf = w.buf[:mark]
		}
	}
	if n == 0 && !always {
		w.buf = w.buf[:start]
		return false
	}
	w.buf = append(w.buf, '}')
	return true
}

// value writes v's canonical form; false: it is at its default (write nothing).
func (w *canonicalWriter) value(v reflect.Value, sub *structInfo) bool {
	switch {
	case v.Kind() == reflect.Struct:
		return w.object(v, sub, false)
	case v.Kind() == reflect.Slice && sub != nil && v.Len() > 0:
		w.buf = append(w.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.object(v.Index(i), sub, true) // a struct in a list keeps its place
		}
		w.buf = append(w.buf, ']')
		return true
	}
	if def, ok := w.defaults.lookup(v.UnsafeAddr()); ok {
		if def {
			return false
		}
	} else if isZeroValue(v) {
		return false
	}
	w.leaf(v)
	return true
}

// isZeroValue: the value a key without a default has when omitted (any empty list).
func isZeroValue(v reflect.Value) bool {
	if v.Kind() == reflect.Slice {
		return v.Len() == 0
	}
	return v.IsZero()
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

// leaf writes a value as encoding/json does.
func (w *canonicalWriter) leaf(v reflect.Value) {
	if v.Type().Implements(jsonMarshaler) {
		w.marshal(v)
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		w.buf = strconv.AppendBool(w.buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.buf = strconv.AppendInt(w.buf, v.Int(), 10)
	case reflect.Float64:
		w.float(v)
	case reflect.String:
		w.str(v)
	case reflect.Pointer:
		if v.IsNil() {
			w.buf = append(w.buf, "null"...)
			return
		}
		w.leaf(v.Elem())
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			w.marshal(v)
			return
		}
		if v.IsNil() {
			w.buf = append(w.buf, "null"...)
			return
		}
		w.buf = append(w.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.str(v.Index(i))
		}
		w.buf = append(w.buf, ']')
	default:
		w.marshal(v)
	}
}

func (w *canonicalWriter) marshal(v reflect.Value) {
	b, err := json.Marshal(v.Interface())
	if err != nil && w.err == nil {
		w.err = err
	}
	w.buf = append(w.buf, b...)
}

// float writes a float64 as encoding/json does ('f' format, 'e' below 1e-6 and from
// 1e21, with a one-digit negative exponent written e-7).
func (w *canonicalWriter) float(v reflect.Value) {
	f := v.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.marshal(v)
		return
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	w.buf = strconv.AppendFloat(w.buf, f, format, -1, 64)
	if format == 'e' {
		if n := len(w.buf); n >= 4 && w.buf[n-4] == 'e' && w.buf[n-3] == '-' && w.buf[n-2] == '0' {
			w.buf[n-2] = w.buf[n-1]
			w.buf = w.buf[:n-1]
		}
	}
}

// str writes a string as encoding/json does: plain ASCII directly, anything needing
// an escape (quotes, controls, <, >, &, non-ASCII) through encoding/json.
func (w *canonicalWriter) str(v reflect.Value) {
	s := v.String()
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			w.buf = append(w.buf, b...)
			return
		}
	}
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '"')
}
