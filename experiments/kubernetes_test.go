package main

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
)

// readManifest reads the YAML stream back with the library that wrote it.
func readManifest(t *testing.T, m string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(m))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the manifest does not read back: %v\n%s", err, m)
		}
		docs = append(docs, d)
	}
	return docs
}

// get walks a path of map keys and list indices through a decoded document.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("no key %q in %v", k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("no item %d in %v", k, v)
			}
			v = l[k]
		}
	}
	return v
}

// Each hostile string, as the spec's text, its file name and every value of the
// kubernetes verb, reads back from the manifest with the YAML library as the same value
// (the spec file name as a valid ConfigMap key), the header stays comments, and a value
// YAML cannot hold (not UTF-8) is refused naming its flag.
func TestKubernetesManifestReadsBackHostileStringsOrRefusesThem(t *testing.T) {
	specs := []string{"  \nname: x\n", " lead\nname: x\n", "a\r\nb\r\n", "\t\ntab\n", "x\n\n\n", "---\nname: x\n...\n", "trailing  \n"}
	for k, h := range hostileStrings {
		specs = append(specs, "name: x # "+h+"\n", h)
		t.Run(strconv.Itoa(k), func(t *testing.T) {
			o := kubeOptions{Image: h, Binary: "/bin/" + h, Namespace: h, Claim: h, Mount: "/" + h, Mem: h, BackoffPerIndex: 3}
			flags := []string{"--set", h, "--data-dir", h}
			specFile := filepath.Join("/specs", h+".yaml")
			m, err := kubeManifest("hostile", specFile, []byte("name: x\n"), 2, 4, flags, o)
			if !utf8.ValidString(h) {
				if err == nil || !strings.Contains(err.Error(), "--image") || !strings.Contains(err.Error(), "UTF-8") {
					t.Fatalf("a non-UTF-8 --image: %v, want an error naming it", err)
				}
				if _, err := kubeManifest("hostile", "/s.yaml", []byte("name: x\n"), 2, 4, []string{"--data-dir", h}, kubeOptions{Image: "i", Binary: "/b", Claim: "c", Mount: "/r"}); err == nil || !strings.Contains(err.Error(), "--data-dir") {
					t.Errorf("a non-UTF-8 --data-dir: %v, want an error naming it", err)
				}
				if _, err := kubeManifest("hostile", "/s.yaml", []byte(h), 2, 4, nil, kubeOptions{Image: "i", Binary: "/b", Claim: "c", Mount: "/r"}); err == nil || !strings.Contains(err.Error(), "UTF-8") {
					t.Errorf("a non-UTF-8 spec: %v, want an error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.SplitAfter(m, "\n")[:2] {
				if !strings.HasPrefix(line, "# ") || strings.Count(line, "\n") != 1 {
					t.Errorf("header line %q is not one comment", line)
				}
			}
			docs := readManifest(t, m)
			if len(docs) != 2 {
				t.Fatalf("%d documents, want the ConfigMap and the Job:\n%s", len(docs), m)
			}
			data := get(t, docs[0], "data").(map[string]any)
			key := configMapKey(filepath.Base(specFile))
			if len(data) != 1 || data[key] != "name: x\n" || !validConfigMapKey(key) {
				t.Errorf("ConfigMap data %q, want the spec under a valid key %q", data, key)
			}
			c := []any{docs[1], "spec", "template", "spec", "containers", 0}
			args := get(t, docs[1], append(c, "args")...).([]any)
			wantArgs := []any{"--out", "/" + h, "--resume", "--shard", "auto", "--set", h, "--data-dir", h, "/etc/saerun/" + key}
			for _, v := range []struct {
				what string
				got  any
				want string
			}{
				{"image", get(t, docs[1], append(c, "image")...), h},
				{"command", get(t, docs[1], append(c, "command", 0)...), "/bin/" + h},
				{"mountPath", get(t, docs[1], append(c, "volumeMounts", 1, "mountPath")...), "/" + h},
				{"claimName", get(t, docs[1], "spec", "template", "spec", "volumes", 1, "persistentVolumeClaim", "claimName"), h},
				{"namespace", get(t, docs[1], "metadata", "namespace"), h},
				{"memory limit", get(t, docs[1], append(c, "resources", "limits", "memory")...), h},
			} {
				if v.got != v.want {
					t.Errorf("%s reads back as %q, want %q", v.what, v.got, v.want)
				}
			}
			if !slices.Equal(args, wantArgs) {
				t.Errorf("args read back as %q, want %q", args, wantArgs)
			}
		})
	}
	// The spec's text, whatever it holds, is the ConfigMap's data exactly.
	for _, s := range specs {
		if !utf8.ValidString(s) {
			continue
		}
		m, err := kubeManifest("x", "/s/spec.yaml", []byte(s), 1, 1, nil, kubeOptions{Image: "i", Binary: "/b", Claim: "c", Mount: "/r"})
		if err != nil {
			t.Errorf("spec %q: %v", s, err)
			continue
		}
		if got := get(t, readManifest(t, m)[0], "data", "spec.yaml"); got != s {
			t.Errorf("spec %q reads back as %q:\n%s", s, got, m)
		}
	}
}

// validConfigMapKey is Kubernetes' rule for a ConfigMap key (IsConfigMapKey).
func validConfigMapKey(k string) bool {
	if k == "" || len(k) > 253 || k == "." || strings.HasPrefix(k, "..") {
		return false
	}
	return strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}

func TestKubernetesConfigMapKeysAreValid(t *testing.T) {
	for in, want := range map[string]string{"spec.yaml": "spec.yaml", "My Sweep.yaml": "My_Sweep.yaml", "..yaml": "spec.yaml",
		".": "spec.yaml", "é.yaml": "__.yaml", strings.Repeat("x", 300): "spec.yaml", "a\nb#c.yaml": "a_b_c.yaml"} {
		if got := configMapKey(in); got != want || !validConfigMapKey(got) {
			t.Errorf("configMapKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKubernetesRefusesClaimAndNamespaceNamesKubernetesWould(t *testing.T) {
	for _, o := range []kubeOptions{{Claim: "saerun-results"}, {Claim: "a.b-c", Namespace: "ml-team"}} {
		if err := checkKubeNames(o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, o := range []kubeOptions{{Claim: "Results"}, {Claim: "a b"}, {Claim: "-x"}, {Claim: "x\ny"}, {Claim: ""},
		{Claim: strings.Repeat("a", 254)}, {Claim: "ok", Namespace: "a.b"}, {Claim: "ok", Namespace: strings.Repeat("a", 64)}} {
		flag := "--claim"
		if o.Claim == "ok" {
			flag = "--namespace"
		}
		if err := checkKubeNames(o); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%+v: %v, want a refusal naming %s", o, err, flag)
		}
	}
}
