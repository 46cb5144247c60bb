// The layering of the module's packages, in the style of the Go standard library's
// src/go/build/deps_test.go: the allowed imports of every package, written below as a
// small ordered policy, checked against `go list -deps -json ./...`.
//
// Why: a results reader or a notebook that plots Parquet files must build without
// GoMLX, XLA and cgo; the spec (the schema a user writes against) must stay a leaf that
// every tool can import; and training is the only layer allowed to know about models.
// Nothing in the compiler stops an import that drags a heavy layer into a light one,
// so this test does: a new arrow back up fails here, naming both packages.
package saerun_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/sparselab/saerun/"

// externals names the modules outside the standard library that the policy allows,
// by group. "C" is cgo's pseudo-package.
var externals = map[string][]string{
	"YAML":     {"github.com/goccy/go-yaml"},
	"PARQUET":  {"github.com/parquet-go/parquet-go"},
	"XSYS":     {"golang.org/x/sys", "golang.org/x/term"},
	"PLOT":     {"gonum.org/v1/plot"},
	"GOMLX":    {"github.com/gomlx/gomlx", "github.com/gomlx/compute"},
	"XLA":      {"github.com/gomlx/go-xla"},
	"CGO":      {"C"},
	"PROGRESS": {"github.com/schollz/progressbar/v3"},
	"KLOG":     {"k8s.io/klog/v2"},
	"GONB":     {"github.com/janpfeifer/gonb"},
}

// policy is the statement of policy: each line is "package: what it may import",
// bottom layer first. A package may import the standard library, the external groups
// named on its line, and module packages named on its line, which must appear on an
// earlier line: an arrow can only point down. Every package of the module must have
// a line, so a new package is placed in the order deliberately.
var policy = `
# Test fixtures: .npy files as numpy writes them (imported by tests only).
pkg/data/npytest:

# The schema: what a user writes. Only the standard library and YAML.
pkg/spec: YAML
pkg/sweep: pkg/spec

# The results format: schema, reader, compaction and writer. No GoMLX, no XLA, no cgo
# (see noHeavy), so notebooks and plotting tools read results without a C toolchain.
pkg/results: PARQUET XSYS
pkg/results/writer: YAML PARQUET pkg/results pkg/sweep

# Experiment tracking (MLflow's REST API): reads the tables, knows no training.
pkg/tracking: pkg/results pkg/sweep

# Data: loading and preparing sets. pkg/data reads from the spec only what the schema
# declares once (dataset names, the synthetic set's limits); specdata maps a spec's
# dataset section onto it.
pkg/data: PARQUET pkg/results pkg/spec
pkg/data/specdata: pkg/data pkg/spec
pkg/baseline: pkg/data pkg/data/specdata pkg/spec

# What reads results: plots, a trained model (any kind) and an SAE's latents on the host.
pkg/plots: PLOT pkg/results
pkg/trained: pkg/results pkg/spec
pkg/saelatents: pkg/results pkg/trained
pkg/export: pkg/results pkg/trained

# What the notebooks share (a spec's results, a run's tables and model, a figure shown):
# reads, and runs the experiments command when runs are missing, but links no training.
pkg/nb: GONB pkg/baseline pkg/data pkg/data/specdata pkg/results pkg/spec pkg/sweep pkg/trained

# A run's training state mid-run (checkpoints): a file format, standard library only.
pkg/checkpoint:

# Models and training: GoMLX from here up.
pkg/backend: GOMLX XLA CGO
pkg/sparsity: GOMLX
pkg/sae: GOMLX pkg/sparsity
pkg/autoencoder: GOMLX pkg/spec
pkg/optim: GOMLX pkg/spec
pkg/train: GOMLX pkg/autoencoder pkg/backend pkg/checkpoint pkg/data pkg/optim pkg/results pkg/sae pkg/sparsity pkg/spec

# Running a sweep, and what drives it.
pkg/runner: GOMLX PROGRESS XSYS pkg/backend pkg/checkpoint pkg/data pkg/data/specdata pkg/results pkg/results/writer pkg/spec pkg/sweep pkg/train
experiments: YAML pkg/backend pkg/data pkg/data/specdata pkg/export pkg/results pkg/runner pkg/spec pkg/sweep pkg/tracking
experiments/seeds/baseline: pkg/baseline pkg/data pkg/data/specdata pkg/results pkg/spec
bench/profile: GOMLX KLOG pkg/runner
bench/sae/pieces: GOMLX pkg/backend pkg/sae pkg/sparsity
`

// noHeavy are the packages whose whole dependency graph (not only their direct
// imports) must hold no GoMLX, no XLA and no cgo outside the standard library.
var noHeavy = []string{"pkg/results", "pkg/results/writer", "pkg/plots", "pkg/data", "pkg/spec", "pkg/sweep", "pkg/trained", "pkg/export", "pkg/baseline", "pkg/saelatents", "pkg/nb"}

// only are packages whose whole dependency graph is limited to the standard library
// and the named external groups (and module packages, none for these).
var only = map[string][]string{"pkg/spec": {"YAML"}}

// pending are arrows the policy forbids that the code still has, each with the work
// that removes it. They are tolerated (also in the transitive checks), and the test
// fails once one is gone, so that its line is deleted and the arrow cannot come back.
var pending = map[string]string{}

type rule struct {
	pkg     string
	allowed map[string]bool // module packages and external groups
}

// parsePolicy reads the policy text, refusing a line that names a module package not
// declared on an earlier line (an arrow up or sideways into the future).
func parsePolicy(text string) ([]rule, error) {
	var rules []rule
	seen := map[string]bool{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pkg, deps, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("policy line %d: want \"package: imports\", got %q", n, line)
		}
		r := rule{pkg: strings.TrimSpace(pkg), allowed: map[string]bool{}}
		if seen[r.pkg] {
			return nil, fmt.Errorf("policy line %d: %s has a line already", n, r.pkg)
		}
		for _, d := range strings.Fields(deps) {
			_, group := externals[d]
			if !group && !seen[d] {
				return nil, fmt.Errorf("policy line %d: %s may import %s, which is neither an external group nor a package on an earlier line", n, r.pkg, d)
			}
			r.allowed[d] = true
		}
		seen[r.pkg] = true
		rules = append(rules, r)
	}
	return rules, nil
}

// pkgInfo is what the check needs of `go list -json`.
type pkgInfo struct {
	ImportPath string
	Imports    []string
	Standard   bool
	CgoFiles   []string
	DepOnly    bool
}

// graph is the import graph of the module's packages and everything they depend on.
type graph map[string]*pkgInfo

var listed struct {
	once sync.Once
	g    graph
	err  error
}

// listGraph returns a copy of the module's import graph (go list runs once).
func listGraph(t *testing.T) graph {
	t.Helper()
	listed.once.Do(func() { listed.g, listed.err = goList() })
	if listed.err != nil {
		t.Fatal(listed.err)
	}
	g := make(graph, len(listed.g))
	for k, p := range listed.g {
		c := *p
		g[k] = &c
	}
	return g
}

func goList() (graph, error) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Standard,CgoFiles,DepOnly", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps -json ./...: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		g[p.ImportPath] = &p
	}
	return g, nil
}

// short is a module package's path without the module prefix.
func short(path string) string { return strings.TrimPrefix(path, module) }

// group is the external group an import belongs to ("" for the standard library or
// a module package, "?" for an external package in no group).
func group(g graph, path string) string {
	if strings.HasPrefix(path, module) || (g[path] != nil && g[path].Standard) {
		return ""
	}
	for name, prefixes := range externals {
		for _, p := range prefixes {
			if path == p || strings.HasPrefix(path, p+"/") {
				return name
			}
		}
	}
	return "?"
}

// violations checks the graph against the rules and returns one line per forbidden
// arrow or missing line, and the pending arrows it met.
func violations(g graph, rules []rule) (bad []string, met map[string]bool) {
	met = map[string]bool{}
	byPkg := map[string]rule{}
	for _, r := range rules {
		byPkg[r.pkg] = r
	}
	var mine []string
	for path, p := range g {
		if strings.HasPrefix(path, module) && !p.DepOnly {
			mine = append(mine, path)
		}
	}
	slices.Sort(mine)
	for _, path := range mine {
		r, ok := byPkg[short(path)]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s has no line in the policy: add one at its layer", short(path)))
			continue
		}
		for _, imp := range g[path].Imports {
			var name string
			switch grp := group(g, imp); grp {
			case "":
				if !strings.HasPrefix(imp, module) {
					continue // the standard library
				}
				name = short(imp)
			case "?":
				bad = append(bad, fmt.Sprintf("%s imports %s, an external module in no group of the policy", r.pkg, imp))
				continue
			default:
				name = grp
			}
			if r.allowed[name] {
				continue
			}
			arrow := r.pkg + " -> " + name
			if _, ok := pending[arrow]; ok {
				met[arrow] = true
				continue
			}
			bad = append(bad, fmt.Sprintf("%s imports %s (%s), which the policy does not allow", r.pkg, imp, arrow))
		}
	}
	return bad, met
}

// closure is every package path reaches, skipping pending arrows. It does not look
// inside the standard library (whose net package has optional cgo).
func closure(g graph, path string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		info := g[p]
		if info == nil || info.Standard {
			return
		}
		for _, imp := range info.Imports {
			if _, ok := pending[short(p)+" -> "+short(imp)]; ok || seen[imp] {
				continue
			}
			seen[imp] = true
			walk(imp)
		}
	}
	walk(path)
	return seen
}

// heavy returns, for each package of noHeavy and only, the dependencies it may not have.
func heavy(g graph) []string {
	var bad []string
	for _, pkg := range noHeavy {
		for dep := range closure(g, module+pkg) {
			grp := group(g, dep)
			if grp == "GOMLX" || grp == "XLA" || grp == "CGO" || (g[dep] != nil && !g[dep].Standard && len(g[dep].CgoFiles) > 0) {
				bad = append(bad, fmt.Sprintf("%s depends on %s (GoMLX, XLA or cgo)", pkg, dep))
			}
		}
	}
	for pkg, groups := range only {
		for dep := range closure(g, module+pkg) {
			if grp := group(g, dep); grp != "" && !slices.Contains(groups, grp) || strings.HasPrefix(dep, module) {
				bad = append(bad, fmt.Sprintf("%s depends on %s: it may depend only on the standard library and %v", pkg, dep, groups))
			}
		}
	}
	slices.Sort(bad)
	return bad
}

func TestPackagesImportOnlyWhatTheLayeringAllows(t *testing.T) {
	rules, err := parsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	g := listGraph(t)
	bad, met := violations(g, rules)
	bad = append(bad, heavy(g)...)
	for _, b := range bad {
		t.Error(b)
	}
	for arrow, why := range pending {
		if !met[arrow] {
			t.Errorf("pending arrow %s (%s) is gone: delete its line from pending", arrow, why)
		}
	}
}

// TestLayeringCheckCatchesAnArrowBackUp proves the check can fail: it adds arrows
// that the policy forbids to the real graph and expects each to be reported.
func TestLayeringCheckCatchesAnArrowBackUp(t *testing.T) {
	rules, err := parsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{"pkg/results/writer", module + "pkg/train", "pkg/results/writer -> pkg/train"},
		{"pkg/spec", module + "pkg/sweep", "pkg/spec -> pkg/sweep"},
		{"pkg/data", "github.com/gomlx/gomlx/core/graph", "pkg/data -> GOMLX"},
		{"pkg/sweep", "github.com/example/new", "an external module in no group"},
	} {
		g := listGraph(t)
		from := g[module+c.from]
		from.Imports = append(slices.Clone(from.Imports), c.to)
		if g[c.to] == nil {
			g[c.to] = &pkgInfo{ImportPath: c.to}
		}
		bad, _ := violations(g, rules)
		if !slices.ContainsFunc(bad, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("adding %s -> %s: not reported (got %q)", c.from, c.to, bad)
		}
	}
	// The transitive check: the writer reaching training through an allowed package.
	g := listGraph(t)
	sweep := g[module+"pkg/sweep"]
	sweep.Imports = append(slices.Clone(sweep.Imports), module+"pkg/train")
	if bad := heavy(g); !slices.ContainsFunc(bad, func(s string) bool { return strings.HasPrefix(s, "pkg/results/writer depends on github.com/gomlx/") }) {
		t.Errorf("pkg/results/writer reaching GoMLX through pkg/sweep: not reported (got %q)", bad)
	}
	// A package without a line, and a policy line naming a later package.
	g = listGraph(t)
	g[module+"pkg/newthing"] = &pkgInfo{ImportPath: module + "pkg/newthing"}
	if bad, _ := violations(g, rules); !slices.Contains(bad, "pkg/newthing has no line in the policy: add one at its layer") {
		t.Errorf("a package without a policy line: not reported (got %q)", bad)
	}
	if _, err := parsePolicy("pkg/spec: pkg/sweep\npkg/sweep: pkg/spec\n"); err == nil || !strings.Contains(err.Error(), "pkg/spec may import pkg/sweep") {
		t.Errorf("a policy with an arrow up parsed: %v", err)
	}
}
