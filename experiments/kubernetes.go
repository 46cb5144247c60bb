package main

// The kubernetes verb: the Kubernetes form of the slurm verb, an Indexed Job whose pod
// i runs shard i of n (--shard auto reads JOB_COMPLETION_INDEX and SAERUN_SHARDS) with
// --resume, so a restarted pod skips the runs it finished. The spec travels in a
// ConfigMap; results go to a volume every pod shares (a ReadWriteMany claim).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/sparselab/saerun/pkg/runner"
)

// kubeOptions are the settings of the kubernetes verb.
type kubeOptions struct {
	Image, Binary, Namespace, Claim, Mount, Mem string
	CPUsPerTask, GPUsPerTask, Parallelism       int
	BackoffPerIndex                             int
}

// kubeManifest returns the ConfigMap (the spec) and the Indexed Job, as one YAML stream.
// Both are data structures marshalled by the YAML library, and each document is read
// back and compared with what was meant before it is returned (marshalYAMLExactly), so
// no value (the spec's text, a flag, a path) can change the manifest's structure. YAML
// holds only UTF-8: a value that is not is refused, naming its flag.
func kubeManifest(name, specFile string, specText []byte, tasks, runs int, taskFlags []string, o kubeOptions) (string, error) {
	if !utf8.Valid(specText) {
		return "", fmt.Errorf("%s: the spec is not UTF-8 text, which a ConfigMap's data (and YAML) cannot hold", specFile)
	}
	for _, v := range []struct{ flag, value string }{{"--image", o.Image}, {"--binary", o.Binary}, {"--namespace", o.Namespace},
		{"--claim", o.Claim}, {"--mount", o.Mount}, {"--mem", o.Mem}} {
		if !utf8.ValidString(v.value) {
			return "", fmt.Errorf("%s %q: not UTF-8, which a Kubernetes manifest cannot hold", v.flag, v.value)
		}
	}
	for i, f := range taskFlags {
		if !utf8.ValidString(f) {
			return "", fmt.Errorf("%s %q: not UTF-8, which a Kubernetes manifest cannot hold", taskFlags[max(i-1, 0)], f)
		}
	}
	id := kubeName("saerun-" + name)
	meta := func(n string) map[string]any {
		m := map[string]any{"name": n, "labels": map[string]any{"app.kubernetes.io/name": "saerun", "saerun/sweep": id}}
		if o.Namespace != "" {
			m["namespace"] = o.Namespace
		}
		return m
	}
	base := configMapKey(filepath.Base(specFile))
	configMap := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(id + "-spec"),
		"data": map[string]any{base: string(specText)},
	}
	args := []string{"--out", o.Mount, "--resume", "--shard", "auto"}
	args = append(args, taskFlags...)
	args = append(args, "/etc/saerun/"+base)
	resources := map[string]any{}
	limits, requests := map[string]any{}, map[string]any{}
	if o.CPUsPerTask > 0 {
		requests["cpu"] = strconv.Itoa(o.CPUsPerTask)
	}
	if o.Mem != "" {
		requests["memory"] = o.Mem
		limits["memory"] = o.Mem
	}
	if o.GPUsPerTask > 0 {
		limits["nvidia.com/gpu"] = strconv.Itoa(o.GPUsPerTask)
	}
	if len(requests) > 0 {
		resources["requests"] = requests
	}
	if len(limits) > 0 {
		resources["limits"] = limits
	}
	container := map[string]any{
		"name":    "saerun",
		"image":   o.Image,
		"command": []string{o.Binary},
		"args":    args,
		"env": []any{
			map[string]any{"name": "SAERUN_SHARDS", "value": strconv.Itoa(tasks)},
		},
		"volumeMounts": []any{
			map[string]any{"name": "spec", "mountPath": "/etc/saerun", "readOnly": true},
			map[string]any{"name": "results", "mountPath": o.Mount},
		},
	}
	if len(resources) > 0 {
		container["resources"] = resources
	}
	parallelism := tasks
	if o.Parallelism > 0 {
		parallelism = min(o.Parallelism, tasks)
	}
	job := map[string]any{
		"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(id),
		"spec": map[string]any{
			"completionMode":       "Indexed",
			"completions":          tasks,
			"parallelism":          parallelism,
			"backoffLimitPerIndex": o.BackoffPerIndex,
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/name": "saerun", "saerun/sweep": id}},
				"spec": map[string]any{
					"restartPolicy": "Never",
					"containers":    []any{container},
					"volumes": []any{
						map[string]any{"name": "spec", "configMap": map[string]any{"name": id + "-spec"}},
						map[string]any{"name": "results", "persistentVolumeClaim": map[string]any{"claimName": o.Claim}},
					},
				},
			},
		},
	}
	var out []byte
	header := fmt.Sprintf("# saerun: sweep %s, %d runs in %d shards (pod i runs the runs with index = i mod %d), results in the claim %s at %s.\n# kubectl apply -f THIS_FILE; when the Job completes: saerun compact and saerun report on the results folder (docs/cluster.md).\n",
		commentText(name), runs, tasks, tasks, commentText(o.Claim), commentText(o.Mount))
	out = append(out, header...)
	for i, doc := range []any{configMap, job} {
		b, err := marshalYAMLExactly(doc)
		if err != nil {
			return "", err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, b...)
	}
	return string(out), nil
}

// marshalYAMLExactly marshals doc as YAML with multi-line strings (the spec) as literal
// blocks, which keep the spec readable, and reads the result back. The library writes
// some strings so that they read back differently or not at all (a first line of
// spaces only in a literal block, a carriage return, a tab in a plain scalar), and YAML
// parsers refuse raw control characters; so a document holding any string with a
// character other than printable ones, newline and tab, or one that does not read back
// the same, is written as JSON instead: a JSON document is YAML, its strings escaped.
// The JSON form is read back and compared too.
func marshalYAMLExactly(doc any) ([]byte, error) {
	want, err := jsonNormal(doc)
	if err != nil {
		return nil, err
	}
	var forms []func() ([]byte, error)
	if plainStrings(want) {
		forms = append(forms, func() ([]byte, error) { return yaml.MarshalWithOptions(doc, yaml.UseLiteralStyleIfMultiline(true)) })
	}
	forms = append(forms, func() ([]byte, error) {
		b, err := json.MarshalIndent(doc, "", "  ")
		return append(b, '\n'), err
	})
	var last error
	for _, form := range forms {
		b, err := form()
		if err != nil {
			return nil, err
		}
		var back any
		if last = yaml.Unmarshal(b, &back); last == nil {
			got, err := jsonNormal(back)
			if err == nil && reflect.DeepEqual(got, want) {
				return b, nil
			}
			last = fmt.Errorf("reads back as %v, not %v (%v)", got, want, err)
		}
	}
	return nil, fmt.Errorf("the YAML library cannot write this manifest so that it reads back the same: %w", last)
}

// plainStrings reports whether every string (key or value) in v, a JSON-normal value,
// holds only printable characters, newlines and tabs.
func plainStrings(v any) bool {
	plain := func(s string) bool {
		return strings.IndexFunc(s, func(r rune) bool { return !(unicode.IsPrint(r) || r == '\n' || r == '\t') || r == '\ufeff' }) < 0
	}
	switch v := v.(type) {
	case string:
		return plain(v)
	case []any:
		for _, x := range v {
			if !plainStrings(x) {
				return false
			}
		}
	case map[string]any:
		for k, x := range v {
			if !plain(k) || !plainStrings(x) {
				return false
			}
		}
	}
	return true
}

// jsonNormal is v through JSON, so that documents built in Go and read from YAML compare
// equal when they hold the same values (numbers as float64, maps as map[string]any).
func jsonNormal(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var n any
	return n, json.Unmarshal(b, &n)
}

// configMapKey is the ConfigMap key (and the file name in the pods) of the spec file
// name: Kubernetes allows letters, digits, '-', '_' and '.', at most 253 characters,
// not "." or ".." or starting with "..". Other characters become '_'; a name that still
// cannot be a key becomes spec.yaml.
func configMapKey(base string) string {
	b := []byte(base)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	k := string(b)
	if len(k) > 253 || k == "" || k == "." || strings.HasPrefix(k, "..") {
		return "spec.yaml"
	}
	return k
}

// DNS-1123 names, as Kubernetes checks them: a label (a namespace) and a subdomain (an
// object's name, such as a PersistentVolumeClaim's).
var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// checkKubeNames refuses a --claim or --namespace that Kubernetes would refuse, here,
// with the rule, rather than at kubectl apply.
func checkKubeNames(o kubeOptions) error {
	if !dnsSubdomain.MatchString(o.Claim) || len(o.Claim) > 253 {
		return fmt.Errorf("--claim %q: not a PersistentVolumeClaim name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)", o.Claim)
	}
	if o.Namespace != "" && !dnsLabel.MatchString(o.Namespace) {
		return fmt.Errorf("--namespace %q: not a namespace name (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)", o.Namespace)
	}
	return nil
}

// kubeName makes a DNS-1123 name (lower case, digits, '-', at most 52 characters: the
// Job controller appends a pod suffix).
func kubeName(s string) string {
	b := []byte{}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case len(b) > 0 && b[len(b)-1] != '-':
			b = append(b, '-')
		}
	}
	if len(b) > 52 {
		b = b[:52]
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return string(b)
}

func kubernetesCmd(name string, args []string) int {
	fs := newFlags(name+" [flags] SPEC.yaml --tasks N --image IMAGE --claim PVC", `
Prints a Kubernetes manifest that runs a sweep as an Indexed Job of N pods: a ConfigMap
holding the spec and a batch/v1 Job whose pod i runs shard i (--shard auto reads
JOB_COMPLETION_INDEX and SAERUN_SHARDS) with --resume, so that a restarted pod skips the
runs it finished. Results go to a PersistentVolumeClaim every pod mounts (it must allow
ReadWriteMany, on a file system that honours flock: docs/cluster.md). Apply it with
kubectl apply -f; compact and report when the Job completes.`)
	var rf runFlags
	rf.register(fs, true)
	tasks := fs.Int("tasks", 0, "pods (Job completions): the sweep is split into this many shards (required; at most the number of runs)")
	var o kubeOptions
	fs.StringVar(&o.Image, "image", "", "container image holding the saerun binary (required)")
	fs.StringVar(&o.Binary, "binary", "/usr/local/bin/saerun", "path of the saerun binary in the image")
	fs.StringVar(&o.Claim, "claim", "", "PersistentVolumeClaim for the results, ReadWriteMany (required)")
	fs.StringVar(&o.Mount, "mount", "/results", "where pods mount the claim; the results root (--out) in the pods")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace of the ConfigMap and the Job (default: kubectl's)")
	fs.StringVar(&o.Mem, "mem", "", "memory of each pod (request and limit), as Kubernetes writes it (e.g. 8Gi)")
	fs.IntVar(&o.CPUsPerTask, "cpus-per-task", 0, "CPUs requested by each pod")
	fs.IntVar(&o.GPUsPerTask, "gpus-per-task", 0, "NVIDIA GPUs of each pod (nvidia.com/gpu); pair with --backend xla:/path/to/the/CUDA/plugin.so in the image")
	fs.IntVar(&o.Parallelism, "parallelism", 0, "pods running at once (default: all)")
	fs.IntVar(&o.BackoffPerIndex, "retries", 3, "retries of a failed pod, per index (Job backoffLimitPerIndex)")
	if code := parse(fs, reorder(fs, args)); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if o.Image == "" || o.Claim == "" {
		fmt.Fprintln(os.Stderr, "kubernetes: give --image (an image with the saerun binary) and --claim (a ReadWriteMany PersistentVolumeClaim for the results)")
		return 2
	}
	if o.CPUsPerTask < 0 || o.GPUsPerTask < 0 || o.Parallelism < 0 || o.BackoffPerIndex < 0 {
		fmt.Fprintln(os.Stderr, "kubernetes: --cpus-per-task, --gpus-per-task, --parallelism and --retries must be 0 or more")
		return 2
	}
	if err := checkKubeNames(o); err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes:", err)
		return 2
	}
	if !filepath.IsAbs(o.Mount) || !filepath.IsAbs(o.Binary) {
		fmt.Fprintf(os.Stderr, "kubernetes: --mount %q and --binary %q must be absolute paths in the container\n", o.Mount, o.Binary)
		return 2
	}
	if rf.out != "results" {
		fmt.Fprintln(os.Stderr, "kubernetes: results go to the claim's mount (--mount), not --out")
		return 2
	}
	specPath := fs.Arg(0)
	text, err := os.ReadFile(specPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubernetes: %s: cannot read spec: %v\n", specPath, err)
		return 2
	}
	// Paths on this machine mean nothing in a pod: flags pass through as written.
	var tf []string
	if rf.backend != "" {
		tf = append(tf, "--backend", rf.backend)
	}
	if rf.dataDir != "" {
		tf = append(tf, "--data-dir", rf.dataDir)
	}
	if rf.groupSize != 0 {
		tf = append(tf, "--group-size", strconv.Itoa(rf.groupSize))
	}
	if rf.logEvery != runner.DefaultLogEvery {
		tf = append(tf, "--log-every", rf.logEvery.String())
	}
	if rf.noCompact {
		tf = append(tf, "--no-compact")
	}
	for _, s := range rf.sets {
		tf = append(tf, "--set", s)
	}
	j, err := checkSpec(specPath, *tasks, rf.sets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes:", err)
		return 2
	}
	m, err := kubeManifest(j.Name, specPath, text, *tasks, j.Runs, tf, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes:", err)
		return 1
	}
	fmt.Print(m)
	return 0
}
