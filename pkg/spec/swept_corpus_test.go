package spec_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// Every value the bad-spec corpus refuses in the file is refused the same way as a
// swept value: the file with the bad key repaired (removed, or given the quickstart's
// value) and the bad value swept instead must fail to expand with spec.Errors that
// name the key, as the runner reports them (exit 2). A sweep never accepts what the
// file could not hold.
func TestEveryRefusedValueOfTheCorpusIsRefusedWhenSwept(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	good := readDoc(t, "../../experiments/quickstart.yaml")
	tried := 0
	for _, path := range files {
		data, _ := os.ReadFile(path)
		_, _, err := spec.Parse(path, data)
		var es spec.Errors
		if !errors.As(err, &es) || es[0].Key == "" {
			continue // syntax errors and files refused before a key is known
		}
		key := es[0].Key
		if strings.HasPrefix(key, "sweep") || key == "name" || strings.HasPrefix(key, "record") || key == "train.seed" {
			continue // keys a sweep cannot vary
		}
		var doc map[string]any
		if yaml.Unmarshal(data, &doc) != nil {
			continue
		}
		bad, ok := getPath(doc, key)
		if !ok {
			continue // the error names a key the file omits (missing)
		}
		delete(doc, "sweep")
		var base []byte
		for _, repair := range []func(map[string]any) bool{
			func(d map[string]any) bool { return deletePath(d, key) },
			func(d map[string]any) bool {
				v, ok := getPath(good, key)
				return ok && setPath(d, key, v)
			},
		} {
			d := cloneDoc(doc).(map[string]any)
			if !repair(d) {
				continue
			}
			b, _ := json.Marshal(d)
			if _, _, err := spec.Parse("repaired.yaml", b); err == nil {
				base = b
				break
			}
		}
		if base == nil {
			continue // no repair gives a valid file (the error is about several keys)
		}
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			var d map[string]any
			json.Unmarshal(base, &d)
			d["sweep"] = map[string]any{"parameters": map[string]any{key: map[string]any{"values": []any{bad}}}}
			b, _ := json.Marshal(d)
			s, src, err := spec.Parse("swept.yaml", b)
			if err == nil {
				_, err = sweep.Expand(s, src)
			}
			if err == nil {
				t.Fatalf("sweeping %s over [%v] was accepted; the file refuses it: %v", key, bad, es)
			}
			var got spec.Errors
			if !errors.As(err, &got) {
				t.Fatalf("error is %T, not spec.Errors: %v", err, err)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error does not name %s: %v", key, err)
			}
		})
		tried++
	}
	if tried < 25 {
		t.Errorf("only %d corpus values swept", tried)
	}
	t.Logf("swept %d refused values of the corpus", tried)
}

func readDoc(t *testing.T, path string) map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// walkPath returns the container holding the last part of key and that part.
func walkPath(doc any, key string) (container any, last string, ok bool) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		switch d := doc.(type) {
		case map[string]any:
			doc, ok = d[p]
			if !ok {
				return nil, "", false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(d) {
				return nil, "", false
			}
			doc = d[i]
		default:
			return nil, "", false
		}
	}
	return doc, parts[len(parts)-1], true
}

func getPath(doc any, key string) (any, bool) {
	c, last, ok := walkPath(doc, key)
	if !ok {
		return nil, false
	}
	switch d := c.(type) {
	case map[string]any:
		v, ok := d[last]
		return v, ok
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(d) {
			return d[i], true
		}
	}
	return nil, false
}

func setPath(doc any, key string, v any) bool {
	c, last, ok := walkPath(doc, key)
	if !ok {
		return false
	}
	switch d := c.(type) {
	case map[string]any:
		d[last] = v
		return true
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(d) {
			d[i] = v
			return true
		}
	}
	return false
}

func deletePath(doc any, key string) bool {
	c, last, ok := walkPath(doc, key)
	if m, isMap := c.(map[string]any); ok && isMap {
		if _, has := m[last]; has {
			delete(m, last)
			return true
		}
	}
	return false
}

func cloneDoc(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}
