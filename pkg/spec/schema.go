package spec

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The one reading of the schema's struct tags: every struct type of the Spec and its
// YAML keys, by name, in field order and in canonical (sorted) order. Built once at
// start (plain maps, read concurrently by a sweep's resolvers without locks).

type structInfo struct {
	index  map[string]int          // yaml key -> field index
	types  map[string]reflect.Type // yaml key -> field type
	keys   []string                // yaml keys in field order
	sorted []sortedField           // canonical order (Spec's sweep and documentation keys left out)
}

type sortedField struct {
	index  int
	quoted string      // "name":
	sub    *structInfo // the field's struct type, or its list's element struct type
}

var structs = buildSchema(reflect.TypeFor[Spec]())

func buildSchema(root reflect.Type) map[reflect.Type]*structInfo {
	structs := map[reflect.Type]*structInfo{}
	var register func(t reflect.Type)
	register = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if _, seen := structs[t]; seen || t.Kind() != reflect.Struct {
			return
		}
		info := &structInfo{index: map[string]int{}, types: map[string]reflect.Type{}}
		structs[t] = info
		for i := range t.NumField() {
			f := t.Field(i)
			register(f.Type)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			info.index[name], info.types[name] = i, f.Type
			info.keys = append(info.keys, name)
			if t != root || (name != "sweep" && !slices.Contains(DocumentationKeys, name)) {
				info.sorted = append(info.sorted, sortedField{index: i, quoted: strconv.Quote(name) + ":"})
			}
		}
		sort.Slice(info.sorted, func(a, b int) bool { return info.sorted[a].quoted < info.sorted[b].quoted })
	}
	register(root)
	for t, info := range structs {
		for i, f := range info.sorted {
			ft := t.Field(f.index).Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			info.sorted[i].sub = structs[ft]
		}
	}
	return structs
}

// infoOf is t's structInfo (t a struct type of the schema).
func infoOf(t reflect.Type) *structInfo {
	if info, ok := structs[t]; ok {
		return info
	}
	panic("spec: " + t.String() + " is not a struct type of the schema")
}

// yamlFieldIndex maps each yaml key of struct type t to its field's index (shared: do
// not modify).
func yamlFieldIndex(t reflect.Type) map[string]int { return infoOf(t).index }

// yamlFields maps each yaml key of struct type t to its field type (shared: do not
// modify).
func yamlFields(t reflect.Type) map[string]reflect.Type { return infoOf(t).types }
