package spec

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
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
