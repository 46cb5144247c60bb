package spec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// Override returns the spec text data with each "dotted.key=value" of sets applied (the
// value in YAML syntax), as if the file had said so: the command line's --set, for
// quick variations and shortened CI runs. The sweep section can be overridden too.
// Comments are not kept; what ran is written to results/<name>/spec.yaml.
func Override(path string, data []byte, sets []string) ([]byte, error) {
	if len(sets) == 0 {
		return data, nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot apply --set: %v", err)}}
	}
	if doc == nil {
		doc = map[string]any{}
	}
	for _, set := range sets {
		key, text, ok := strings.Cut(set, "=")
		if !ok || key == "" {
			return nil, Errors{{File: path, Key: set, Msg: "--set needs key=value", Allowed: "a dotted key such as train.epochs=2"}}
		}
		var value any
		if err := yaml.Unmarshal([]byte(text), &value); err != nil {
			return nil, Errors{{File: path, Key: key, Msg: fmt.Sprintf("--set value %q is not YAML: %v", text, err)}}
		}
		if err := setAnyPath(doc, strings.Split(key, "."), value); err != nil {
			return nil, Errors{{File: path, Key: key, Msg: "--set: " + err.Error()}}
		}
	}
	return yaml.Marshal(plainFloats(doc))
}

// yamlFloat writes a float so that it reads back as one: go-yaml writes 1e-05, which
// its own loader (YAML 1.1: a float has a dot) reads as the string "1e-05".
type yamlFloat float64

func (f yamlFloat) MarshalYAML() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'g', -1, 64)
	if mant, exp, ok := strings.Cut(s, "e"); ok && !strings.Contains(mant, ".") {
		s = mant + ".0e" + exp
	}
	return []byte(s), nil
}

// plainFloats replaces every float64 in a decoded document by a yamlFloat.
func plainFloats(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return x
		}
		return yamlFloat(x)
	case map[string]any:
		for k, e := range x {
			x[k] = plainFloats(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainFloats(e)
		}
	}
	return v
}

// setAnyPath is setPath over the whole schema, sweep included.
func setAnyPath(doc map[string]any, path []string, value any) error {
	if path[0] == "sweep" {
		if len(path) == 1 {
			doc["sweep"] = value
			return nil
		}
		sw, _ := doc["sweep"].(map[string]any)
		if sw == nil {
			sw = map[string]any{}
			doc["sweep"] = sw
		}
		return setPath(sw, reflect.TypeOf(Sweep{}), path[1:], value)
	}
	return setPath(doc, reflect.TypeOf(Spec{}), path, value)
}

// ParseWithSets is Parse of data with the command line's --set overrides applied
// (Override): the spec that runs, whose Source.Data is the document with the overrides
// written in. Its errors, and those found later (sweep expansion), point at the
// user's file: a key the file writes at its line there, a key a --set gives at the
// --set (no line: the command line has none), never at a line of the re-written
// document.
func ParseWithSets(path string, data []byte, sets []string) (_ *Spec, _ *Source, err error) {
	defer recoverYAML(path, &err)
	if len(sets) == 0 {
		return Parse(path, data)
	}
	// The file's own structure first: Override reads one document, and would make a
	// file of two (or of none) look like one.
	file, err := parser.ParseBytes(data, 0)
	if err != nil || len(file.Docs) != 1 || file.Docs[0].Body == nil {
		_, _, err := Parse(path, data)
		return nil, nil, err
	}
	rendered, err := Override(path, data, sets)
	if err != nil {
		return nil, nil, err
	}
	orig := &Source{Path: path, pos: map[string][2]int{}, given: map[string]bool{}}
	var ignored Errors // the file's errors are reported for the spec with the overrides
	orig.walk(file.Docs[0].Body, reflect.TypeFor[Spec](), "", &ignored)
	orig.sets = sets
	s, src, err := Parse(path, rendered)
	if err != nil {
		var es Errors
		if errors.As(err, &es) {
			for _, e := range es {
				if e.Key == "" {
					e.Line, e.Column = 0, 0
					e.Msg += " (in the spec with the --set overrides applied)"
					continue
				}
				loc := orig.errAt(e.Key, e.Allowed, "%s", e.Msg)
				e.Line, e.Column, e.Msg = loc.Line, loc.Column, loc.Msg
			}
		}
		return nil, nil, err
	}
	src.pos, src.sets = orig.pos, sets
	return s, src, nil
}

// setFor is the --set that gives key (it or a key above it), or "".
func (src *Source) setFor(key string) string {
	for i := len(src.sets) - 1; i >= 0; i-- {
		k, _, _ := strings.Cut(src.sets[i], "=")
		if key == k || strings.HasPrefix(key, k+".") {
			return src.sets[i]
		}
	}
	return ""
}
