package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/sparselab/saerun/pkg/results"
)

// The report notebook, relative to the repository root, and the tag of its parameters
// cell (papermill's convention: the injected cell goes right after it).
const (
	reportNotebook = "notebooks/report.ipynb"
	parametersTag  = "parameters"
	reportTemplate = "report-template" // beside the notebook: no scripts from CDNs
)

func reportCmd(name string, args []string) int {
	fs := newFlags(name+" [flags] RESULTS_DIR", `
Executes the report notebook (notebooks/report.ipynb, Python) with the sweep's folder
injected as RESULTS in a cell after the one tagged "parameters", and writes the page,
without code, to RESULTS_DIR/report.html: the runs with their swept parameters, the
L0-reconstruction frontier, learning curves by hyperparameter and per-unit activation
bars. Needs Jupyter: scripts/setup.sh installs it into .venv.`)
	nbPath := fs.String("notebook", "", "report notebook (default "+reportNotebook+" of this checkout)")
	jupyter := fs.String("jupyter", "", "jupyter executable (default .venv/bin/jupyter of this checkout, else jupyter on PATH)")
	out := fs.String("o", "", "HTML file to write (default RESULTS_DIR/report.html)")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest a notebook cell may run")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir, err := filepath.Abs(fs.Arg(0))
	if err == nil {
		_, err = results.Open(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	root := repoRoot()
	if *nbPath == "" {
		*nbPath = filepath.Join(root, reportNotebook)
	}
	if *jupyter == "" {
		*jupyter = filepath.Join(root, ".venv", "bin", "jupyter")
		if _, err := os.Stat(*jupyter); err != nil {
			if *jupyter, err = exec.LookPath("jupyter"); err != nil {
				fmt.Fprintln(os.Stderr, "report: no Jupyter: run scripts/setup.sh (it installs .venv/bin/jupyter), or give --jupyter")
				return 1
			}
		}
	}
	if *out == "" {
		*out = filepath.Join(dir, "report.html")
	}
	if err := report(*nbPath, *jupyter, dir, *out, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 1
	}
	fmt.Println(*out)
	return 0
}

// report executes the notebook with RESULTS = dir and writes its HTML to out, through
// a temporary file and a rename (a failed run leaves the previous report in place).
func report(nbPath, jupyter, dir, out string, timeout time.Duration) error {
	raw, err := os.ReadFile(nbPath)
	if err != nil {
		return err
	}
	injected, err := injectParameters(raw, map[string]string{"RESULTS": dir})
	if err != nil {
		return fmt.Errorf("%s: %w", nbPath, err)
	}
	work, err := os.MkdirTemp(filepath.Dir(out), ".report-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	nb := filepath.Join(work, "report.ipynb")
	if err := os.WriteFile(nb, injected, 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, jupyter, "nbconvert", "--to", "html", "--execute", "--no-input",
		"--TemplateExporter.extra_template_basedirs="+filepath.Dir(nbPath), "--template", reportTemplate,
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(timeout.Seconds())),
		"--output-dir", work, "--output", "report", nb)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("executing %s with RESULTS=%s: %w", nbPath, dir, err)
	}
	return os.Rename(filepath.Join(work, "report.html"), out)
}

// injectParameters inserts a code cell assigning values (as Python strings) after the
// notebook's cell tagged "parameters", as papermill does.
func injectParameters(raw []byte, values map[string]string) ([]byte, error) {
	var nb map[string]any
	if err := json.Unmarshal(raw, &nb); err != nil {
		return nil, fmt.Errorf("not a notebook: %w", err)
	}
	cells, _ := nb["cells"].([]any)
	at := -1
	for i, c := range cells {
		cell, _ := c.(map[string]any)
		meta, _ := cell["metadata"].(map[string]any)
		tags, _ := meta["tags"].([]any)
		if slices.Contains(tags, any(parametersTag)) {
			at = i
			break
		}
	}
	if at < 0 {
		return nil, errors.New(`no cell tagged "parameters" (the report command injects its values after it)`)
	}
	src := "# Parameters injected by go run ./experiments report\n"
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		lit, _ := json.Marshal(values[k]) // a JSON string is a valid Python string literal
		src += fmt.Sprintf("%s = %s\n", k, lit)
	}
	cell := map[string]any{"cell_type": "code", "execution_count": nil, "id": "injected-parameters",
		"metadata": map[string]any{"tags": []any{"injected-parameters"}}, "outputs": []any{}, "source": src}
	nb["cells"] = slices.Insert(cells, at+1, any(cell))
	return json.MarshalIndent(nb, "", " ")
}

// repoRoot is the checkout this command runs in: the first folder upwards from the
// working directory that holds notebooks/report.ipynb (else the working directory).
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, reportNotebook)); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}
