package spec

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// The key reference of experiments/README.md (its YAML blocks, commented-out keys
// included) and the schema declare the same keys: a key added to one and not the
// other fails here. And each enumerated key's comment there lists exactly the values
// the schema allows, and each constant default it states is the declared one.
func TestREADMEKeyTablesMatchTheSchema(t *testing.T) {
	data, err := os.ReadFile("../../experiments/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml blocks in experiments/README.md", len(blocks))
	}
	uncomment := regexp.MustCompile(`(?m)^(\s*)# ([a-z_]+: )`)
	readme := map[string]bool{}
	comments := map[string]string{} // key -> its line's comment (first block lines only)
	for _, b := range blocks {
		for _, doc := range strings.Split(b[1], "\n---\n") {
			text := uncomment.ReplaceAllString(doc, "$1$2")
			var m map[string]any
			if err := yaml.Unmarshal([]byte(text), &m); err != nil {
				t.Fatalf("README block does not parse: %v\n%s", err, text)
			}
			collectKeys(m, reflect.TypeFor[Spec](), "", readme)
			lineComments(text, comments)
		}
	}
	schema := map[string]bool{}
	schemaKeys(reflect.TypeFor[Spec](), "", schema)
	for _, k := range sortedKeys(schema) {
		if !readme[k] {
			t.Errorf("schema key %s is not in experiments/README.md's key reference", k)
		}
	}
	for _, k := range sortedKeys(readme) {
		if !schema[k] {
			t.Errorf("experiments/README.md shows key %s, which the schema does not have", k)
		}
	}
	for key, allowed := range map[string][]string{
		"dataset.name": DatasetNames, "dataset.validation": ValidationSources, "model.kind": ModelKinds,
		"loss": Losses, "optimizer.name": Optimizers, "optimizer.schedule.decay": Decays, "sweep.method": SweepMethods,
		"model.sae.activation": SAEActivations, "model.sae.b_dec_init": BDecInits, "model.sae.normalize": Normalizations,
	} {
		c, ok := comments[key]
		if !ok {
			t.Errorf("experiments/README.md: %s has no comment listing its values", key)
			continue
		}
		listed := regexp.MustCompile(`[a-z][a-z0-9_-]*`).FindAllString(c, -1)
		for _, v := range allowed {
			if !slices.Contains(listed, v) {
				t.Errorf("experiments/README.md: %s's comment lacks the allowed value %q: %s", key, v, c)
			}
		}
	}
	for _, r := range defaultRules {
		c, ok := comments[r.key]
		if !ok || !strings.Contains(c, "default") {
			continue
		}
		var probe Spec
		probe.Model.Kind, probe.Model.SAE.Activation = "sae", "jumprelu"
		v, isString := r.value(&probe).(string)
		if !isString {
			continue
		}
		stated := false // the alternative (a | b (default) | c) naming v says default
		for _, alt := range strings.Split(c, "|") {
			words := regexp.MustCompile(`[a-z][a-z0-9_-]*`).FindAllString(alt, -1)
			stated = stated || (slices.Contains(words, v) && slices.Contains(words, "default"))
		}
		if !stated {
			t.Errorf("experiments/README.md: %s's comment does not state its default %q: %s", r.key, v, c)
		}
	}
}

// collectKeys adds the dotted keys of a README document (list entries merged, a
// map-typed key's entries not descended into) to keys.
func collectKeys(doc any, t reflect.Type, path string, keys map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch d := doc.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return
		}
		for k, v := range d {
			keys[join(path, k)] = true
			if ft, ok := yamlFields(t)[k]; ok {
				collectKeys(v, ft, join(path, k), keys)
			}
		}
	case []any:
		for _, v := range d {
			collectKeys(v, t, path, keys)
		}
	}
}

// schemaKeys adds every key of the schema (list element keys without an index).
func schemaKeys(t reflect.Type, path string, keys map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	names := slices.Clone(infoOf(t).keys)
	sort.Strings(names)
	for _, k := range names {
		keys[join(path, k)] = true
		schemaKeys(yamlFields(t)[k], join(path, k), keys)
	}
}

// lineComments records the comment of each block-style "key: value  # comment" line,
// by dotted key (indentation gives the parents).
func lineComments(text string, comments map[string]string) {
	var stack []string // keys by indentation level (2 spaces)
	line := regexp.MustCompile(`^( *)(- )?([a-z_]+):(.*?)(#\s*(.*))?$`)
	for _, l := range strings.Split(text, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil || m[2] != "" {
			continue
		}
		depth := len(m[1]) / 2
		if depth > len(stack) {
			continue
		}
		stack = append(stack[:depth], m[3])
		if key := strings.Join(stack, "."); m[6] != "" && comments[key] == "" {
			comments[key] = m[6] // the first block's (the reference) wins
		}
	}
}
