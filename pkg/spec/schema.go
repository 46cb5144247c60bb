package spec

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The one reading of the schema's struct tags: every struct type of the Spec, its YAML
// keys in field order and sorted, and whether its values hold references (slices,
// maps, pointers) that a copy must not share. Built once at start (plain maps, read
// concurrently by a sweep's resolvers without locks).

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

var structs, refs = buildSchema()

func buildSchema() (map[reflect.Type]*structInfo, map[reflect.Type]bool) {
	b := schemaBuilder{structs: map[reflect.Type]*structInfo{}, refs: map[reflect.Type]bool{}}
	b.register(reflect.TypeFor[Spec]())
	for t, info := range b.structs {
		for i, f := range info.sorted {
			ft := t.Field(f.index).Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			info.sorted[i].sub = b.structs[ft]
		}
	}
	return b.structs, b.refs
}

type schemaBuilder struct {
	structs map[reflect.Type]*structInfo
	refs    map[reflect.Type]bool
}

// register fills structs and refs for t and every type inside it.
func (b *schemaBuilder) register(t reflect.Type) bool {
	structs, refs, register := b.structs, b.refs, b.register
	if r, ok := refs[t]; ok {
		return r
	}
	refs[t] = false // a recursive type stops here
	var r bool
	switch t.Kind() {
	case reflect.Struct:
		info := &structInfo{index: map[string]int{}, types: map[string]reflect.Type{}}
		for i := range t.NumField() {
			f := t.Field(i)
			r = register(f.Type) || r
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			info.index[name], info.types[name] = i, f.Type
			info.keys = append(info.keys, name)
			if t != reflect.TypeFor[Spec]() || (name != "sweep" && !slices.Contains(DocumentationKeys, name)) {
				info.sorted = append(info.sorted, sortedField{index: i, quoted: strconv.Quote(name) + ":"})
			}
		}
		sort.Slice(info.sorted, func(a, b int) bool { return info.sorted[a].quoted < info.sorted[b].quoted })
		structs[t] = info
	case reflect.Array:
		r = register(t.Elem())
	case reflect.Slice, reflect.Map, reflect.Pointer:
		register(t.Elem())
		r = true
	case reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		r = true
	}
	refs[t] = r
	return r
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

// hasRefs reports whether a value of type t holds a slice, map, pointer or interface.
func hasRefs(t reflect.Type) bool {
	if r, ok := refs[t]; ok {
		return r
	}
	return true
}
