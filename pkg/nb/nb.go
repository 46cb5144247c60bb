// Package nb is what the GoNB notebooks (notebooks/, notebooks/seeds/) share, so that a
// notebook holds its science and not its plumbing: where the checkout is, a spec's
// results (trained first only when they are missing), a run's last-epoch units,
// activations and images, its curves, its model and its table beside the mean-image
// baseline, and showing a figure. Before it, every notebook opened with 70-200 lines
// of these helpers, copied from notebook to notebook.
//
// Why a package of its own, and why it links no training code: GoNB compiles each
// cell as a new program that links what the cell uses. On the 2-core machine a cell
// linking the runner (GoMLX, XLA through cgo) took 2.7-5.3 s to build, one linking this
// package (the results reader, the host-side model, plots) 1.0-1.4 s, and a notebook is
// mostly such cells (docs/gonb-setup.md). So nb never imports the runner: when a spec's runs are missing
// from its results folder (or damaged there), Open runs the project's own command,
//
//	go run ./experiments --resume --brief --out OUT [--set k=v ...] SPEC
//
// from the checkout (Go caches that binary: once built, starting it costs ~0.4 s), and
// when they are all there it only reads. That is the runner's --resume, on the runner's
// default backend: XLA when scripts/setup.sh installed its plugin, else pure Go. Its log
// is one line per run trained (--brief); set Verbose for the runner's whole log.
//
// Every function panics on an error, with a message that names what is missing: a
// notebook cell shows the panic, which is what a cell would do with the error anyway.
// Programs use the error-returning API underneath (pkg/results, pkg/trained,
// pkg/baseline), which is where the computations are tested.
package nb

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
)

// Module is the checkout's Go module path (its go.mod's module line).
const Module = "github.com/sparselab/saerun"

// RootEnv names the checkout when a notebook is not inside one (the GoNB kernel that
// scripts/setup.sh installs sets it).
const RootEnv = "SAERUN_ROOT"

// Root is the checkout the notebook belongs to: the nearest folder at or above the
// working directory (a GoNB cell runs in its notebook's folder) whose go.mod declares
// Module, else $SAERUN_ROOT.
func Root() string {
	wd, err := os.Getwd()
	Check(err)
	return Must(findRoot(wd, os.Getenv(RootEnv)))
}

// findRoot is Root from dir, with env the value of $SAERUN_ROOT.
func findRoot(dir, env string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if isCheckout(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if env != "" {
		if !isCheckout(env) {
			return "", fmt.Errorf("nb: $%s=%s holds no go.mod of %s", RootEnv, env, Module)
		}
		return env, nil
	}
	return "", fmt.Errorf("nb: no checkout of %s at or above %s, and $%s is not set", Module, dir, RootEnv)
}

func isCheckout(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module")), `"`) == Module
		}
	}
	return false
}

// abs is path, relative to the checkout unless absolute.
func abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(Root(), path)
}

// rel is path relative to the checkout when it lies inside it, for display.
func rel(path string) string {
	if r, err := filepath.Rel(Root(), path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// DataDir is where the MNIST and Fashion-MNIST files are: $SAERUN_DATA_DIR, else the
// checkout's ../shared/datasets when it exists, else "" (data.DefaultDir: the user
// cache). A notebook runs in its own folder, so data.DefaultDir's relative
// ../shared/datasets would miss it.
func DataDir() string {
	if d := os.Getenv("SAERUN_DATA_DIR"); d != "" {
		return d
	}
	shared := filepath.Join(Root(), "..", "shared", "datasets")
	if fi, err := os.Stat(shared); err == nil && fi.IsDir() {
		return filepath.Clean(shared)
	}
	return ""
}

// Show displays a figure, the (PNG, error) pair that pkg/plots returns, and waits
// until GoNB has it: without the wait, a headless run lost the figures of a cell that
// ended right after drawing them. Outside a notebook it only checks err.
func Show(png []byte, err error) {
	Check(err)
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayPNG(png)
	gonbui.Sync()
}

// Check panics on a non-nil error.
func Check(err error) {
	if err != nil {
		panic(err)
	}
}

// Must returns v, or panics on a non-nil error: for the error-returning API a cell
// calls directly, e.g. nb.Must(model.Encode(x)).
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Rows cuts a row-major matrix x [n, dim] (a model's Encode or Reconstruct) into its
// n rows, e.g. images for plots.Row.
func Rows(x []float32, dim int) [][]float32 {
	if dim < 1 || len(x)%dim != 0 {
		panic(fmt.Sprintf("nb: %d values are not rows of %d", len(x), dim))
	}
	out := make([][]float32, 0, len(x)/dim)
	for i := 0; i < len(x); i += dim {
		out = append(out, x[i:i+dim:i+dim])
	}
	return out
}
