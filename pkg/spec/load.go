package spec

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Source is a spec file as written: its bytes and where each key sits, so that errors
// found later (validation, sweep substitution) can point at a line.
type Source struct {
	Path string
	Data []byte
	pos  map[string][2]int // dotted key -> line, column
	// given holds the dotted keys the file gives a value (null counts as omitted): the
	// presence set that decides where a default applies. A zero the file writes is a
	// value like any other, so the Spec itself stays plain values.
	given map[string]bool
	raw   *Spec // the file strictly decoded, before defaults (resolve copies it)
	// over and overKeys (sorted) are a sweep point's overrides (resolve.go).
	over     map[string]any
	overKeys []string
	sets     []string // the command line's --set overrides (ParseWithSets)
}

// Load reads, strictly decodes, defaults and validates the spec at path.
func Load(path string) (*Spec, *Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read spec: %v", err)}}
	}
	return Parse(path, data)
}

// Parse is Load for bytes already in memory; path is used in messages.
func Parse(path string, data []byte) (s *Spec, _ *Source, err error) {
	defer recoverYAML(path, &err)
	src := &Source{Path: path, Data: data, pos: map[string][2]int{}, given: map[string]bool{}}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, nil, src.yamlError(err)
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		return nil, nil, Errors{{File: path, Msg: "expected exactly one YAML document with the keys name, dataset, model, loss, optimizer, train"}}
	}
	var errs Errors
	src.walk(file.Docs[0].Body, reflect.TypeOf(Spec{}), "", &errs)
	if len(errs) > 0 {
		return nil, nil, errs
	}
	var raw Spec
	if err := yaml.UnmarshalWithOptions(data, &raw, yaml.Strict()); err != nil {
		return nil, nil, src.yamlError(err)
	}
	src.raw = &raw
	if s, err = src.resolve(nil, true); err != nil {
		return nil, nil, err
	}
	return s, src, nil
}

// recoverYAML turns a panic of the YAML library (it has some on odd input, e.g. a
// bare "!" tag on a list) into an error instead of a crash.
func recoverYAML(path string, err *error) {
	if p := recover(); p != nil {
		*err = Errors{{File: path, Msg: fmt.Sprintf("cannot decode the spec (YAML library failure: %v); check tags (!...) and anchors", p)}}
	}
}

// yamlError turns a go-yaml error (syntax or type) into an Error at its position.
func (src *Source) yamlError(err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{File: src.Path, Msg: humanTypeError(ye.GetMessage())}
		if tok := ye.GetToken(); tok != nil && tok.Position != nil {
			e.Line, e.Column = tok.Position.Line, tok.Position.Column
			e.Key = src.keyAt(e.Line, e.Column)
			if v := strings.TrimSpace(tok.Value); e.Key == "" && v != "" && len(v) <= 40 && !strings.ContainsAny(v, "\n") && !strings.Contains(e.Msg, v) {
				// A syntax error: no key is known yet, so say where the parser stopped.
				e.Msg += fmt.Sprintf(" (at %q)", tok.Value)
			}
		}
		if strings.Contains(e.Msg, "'\t'") {
			e.Msg += " (a tab: YAML indents with spaces only)"
		}
		return Errors{e}
	}
	return Errors{{File: src.Path, Msg: err.Error()}}
}

// humanTypeError rewrites go-yaml's Go-flavoured type messages for spec authors.
func humanTypeError(msg string) string {
	if got, want, ok := strings.Cut(msg, " was used where "); ok && strings.HasSuffix(want, " is expected") {
		names := map[string]string{"sequence": "a list", "mapping": "a mapping (key: value)"}
		want = strings.TrimSuffix(want, " is expected")
		if n, ok := names[want]; ok {
			want = n
		}
		if n, ok := names[got]; ok {
			got = n
		}
		return fmt.Sprintf("expected %s, got %s", want, got)
	}
	if !strings.HasPrefix(msg, "cannot unmarshal ") {
		return msg
	}
	got, want, ok := strings.Cut(strings.TrimPrefix(msg, "cannot unmarshal "), " into ")
	if !ok {
		return msg
	}
	kind := want[strings.LastIndex(want, " ")+1:]
	if strings.HasPrefix(got, "[]") {
		got = "a list"
	} else if strings.HasPrefix(got, "map[") {
		got = "a mapping"
	}
	names := map[string]string{"int": "an integer", "int64": "an integer", "float64": "a number",
		"string": "a string", "bool": "true or false"}
	if n, ok := names[kind]; ok {
		return fmt.Sprintf("expected %s, got %s", n, got)
	}
	if strings.HasPrefix(kind, "[]") {
		return fmt.Sprintf("expected a list, got %s", got)
	}
	return fmt.Sprintf("expected a mapping (key: value), got %s", got)
}

// keyAt finds the key whose value starts closest before (line, col).
func (src *Source) keyAt(line, col int) string {
	best, bestLine, bestCol := "", -1, -1
	for k, p := range src.pos {
		if p[0] < line || (p[0] == line && p[1] <= col) {
			if p[0] > bestLine || (p[0] == bestLine && p[1] > bestCol) {
				best, bestLine, bestCol = k, p[0], p[1]
			}
		}
	}
	return best
}

// ErrorAt builds an Error located at key (or its closest known parent key), for
// errors found after loading (sweep expansion).
func (src *Source) ErrorAt(key, allowed, format string, args ...any) *Error {
	return src.errAt(key, allowed, format, args...)
}

// errAt builds an Error located at key (or its closest known parent).
func (src *Source) errAt(key, allowed, format string, args ...any) *Error {
	e := &Error{File: src.Path, Key: key, Msg: fmt.Sprintf(format, args...), Allowed: allowed}
	if set := src.setFor(key); set != "" {
		e.Msg += fmt.Sprintf(" (set by --set %s)", set)
		return e
	}
	for k := key; ; {
		if p, ok := src.pos[k]; ok {
			e.Line, e.Column = p[0], p[1]
			break
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return e
}

// walk checks every mapping key of node against the yaml tags of type t, recording
// key positions and reporting unknown keys with the allowed ones.
func (src *Source) walk(node ast.Node, t reflect.Type, path string, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n := node.(type) {
	case *ast.TagNode:
		src.walk(n.Value, t, path, errs)
		return
	case *ast.AnchorNode:
		src.walk(n.Value, t, path, errs)
		return
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// go-yaml truncates 32.5 to 32 silently; a fraction is a mistake.
		if f, ok := node.(*ast.FloatNode); ok && f.Value != math.Trunc(f.Value) {
			*errs = append(*errs, src.errAt(path, "an integer", "expected an integer, got %s", f.GetToken().Value))
		}
	case reflect.Struct:
		fields := yamlFields(t)
		for _, mv := range mappingValues(node) {
			key := keyName(mv.Key)
			child := join(path, key)
			pos := mv.Key.GetToken().Position
			src.pos[child] = [2]int{pos.Line, pos.Column}
			src.markGiven(child, mv.Value)
			ft, ok := fields[key]
			if !ok {
				e := src.errAt(child, oneOf(sortedKeys(fields)), "unknown key %q", key)
				*errs = append(*errs, e)
				continue
			}
			src.walk(mv.Value, ft, child, errs)
		}
	case reflect.Map:
		for _, mv := range mappingValues(node) {
			child := join(path, keyName(mv.Key))
			pos := mv.Key.GetToken().Position
			src.pos[child] = [2]int{pos.Line, pos.Column}
			src.markGiven(child, mv.Value)
			src.walk(mv.Value, t.Elem(), child, errs)
		}
	case reflect.Slice:
		switch node.(type) {
		case *ast.SequenceNode, *ast.NullNode, *ast.AliasNode, nil:
		default:
			// go-yaml panics on some non-lists here (a bare "!" tag); say it first.
			*errs = append(*errs, src.errAt(path, "", "expected a list, got %s", strings.ToLower(node.Type().String())))
			return
		}
		if seq, ok := node.(*ast.SequenceNode); ok {
			for i, v := range seq.Values {
				child := join(path, strconv.Itoa(i))
				pos := v.GetToken().Position
				src.pos[child] = [2]int{pos.Line, pos.Column}
				src.markGiven(child, v)
				src.walk(v, t.Elem(), child, errs)
			}
		}
	}
}

// markGiven records key as given unless its value is null ("key:" or "key: ~").
func (src *Source) markGiven(key string, value ast.Node) {
	for {
		switch n := value.(type) {
		case *ast.TagNode:
			value = n.Value
			continue
		case *ast.AnchorNode:
			value = n.Value
			continue
		}
		break
	}
	if _, null := value.(*ast.NullNode); value == nil || null {
		return
	}
	src.given[key] = true
}

// keyName is a mapping key as written, without its quotes ("name": is name).
func keyName(key ast.MapKeyNode) string {
	if s, ok := key.(*ast.StringNode); ok {
		return s.Value
	}
	return key.String()
}

func mappingValues(node ast.Node) []*ast.MappingValueNode {
	switch n := node.(type) {
	case *ast.MappingNode:
		return n.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// setPath sets doc[path] = value, checking every step against the schema type t so
// that a path naming no key of the spec is an error even where the file omits it.
func setPath(doc any, t reflect.Type, path []string, value any) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	head := path[0]
	last := len(path) == 1
	switch t.Kind() {
	case reflect.Struct:
		fields := yamlFields(t)
		ft, ok := fields[head]
		if !ok || head == "sweep" {
			fields = maps.Clone(fields)
			delete(fields, "sweep")
			return fmt.Errorf("%q names no key of the spec; allowed here: %s", head, oneOf(sortedKeys(fields)))
		}
		m, ok := doc.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot set %q inside a non-mapping value", head)
		}
		if last {
			m[head] = value
			return nil
		}
		next, ok := m[head]
		if !ok || next == nil {
			if ft.Kind() == reflect.Slice {
				return fmt.Errorf("%q is not set in the spec, so %q cannot index it", head, path[1])
			}
			next = map[string]any{}
			m[head] = next
		}
		return setPath(next, ft, path[1:], value)
	case reflect.Slice:
		list, ok := doc.([]any)
		if !ok {
			return fmt.Errorf("expected a list at %q", head)
		}
		i, err := strconv.Atoi(head)
		if err != nil || i < 0 || i >= len(list) {
			return fmt.Errorf("index %q out of range: the list has %d entries (0..%d)", head, len(list), len(list)-1)
		}
		if last {
			list[i] = value
			return nil
		}
		return setPath(list[i], t.Elem(), path[1:], value)
	case reflect.Map:
		m, ok := doc.(map[string]any)
		if !ok {
			return fmt.Errorf("expected a mapping at %q", head)
		}
		// Map keys may hold dots themselves (sweep.parameters.regularizers.0.weight.values):
		// the key is the longest prefix after which a field of the element follows.
		key, rest := strings.Join(path, "."), []string(nil)
		if elem := t.Elem(); elem.Kind() == reflect.Struct {
			fields := yamlFields(elem)
			for i := len(path) - 1; i >= 1; i-- {
				if _, ok := fields[path[i]]; ok {
					key, rest = strings.Join(path[:i], "."), path[i:]
					break
				}
			}
		} else if !last {
			key, rest = head, path[1:]
		}
		if rest == nil {
			m[key] = value
			return nil
		}
		next, ok := m[key]
		if !ok || next == nil {
			next = map[string]any{}
			m[key] = next
		}
		return setPath(next, t.Elem(), rest, value)
	}
	return fmt.Errorf("%q is a single value; it has no key %q", strings.Join(path[:1], "."), head)
}

// ValidPath reports whether path names a key of the schema (used for sweep paths).
func ValidPath(path string) bool {
	t := reflect.TypeOf(Spec{})
	for _, p := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			ft, ok := yamlFields(t)[p]
			if !ok || p == "sweep" {
				return false
			}
			t = ft
		case reflect.Slice:
			if _, err := strconv.Atoi(p); err != nil {
				return false
			}
			t = t.Elem()
		case reflect.Map:
			t = t.Elem()
		default:
			return false
		}
	}
	return true
}
