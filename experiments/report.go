package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/sparselab/saerun/pkg/results"
)

// The report notebook and its page template (JupyterLab's without the scripts it loads
// from CDNs) are built into the command, so that `report` works from any folder.
//
//go:embed report/report.ipynb report/template
var reportFiles embed.FS

// parametersTag tags the notebook's parameters cell (papermill's convention: the
// injected cell goes right after it).
const parametersTag = "parameters"

func reportCmd(name string, args []string) int {
	flags := newFlags(name+" [flags] RESULTS_DIR", `
Executes the report notebook (experiments/report/report.ipynb, built into the command;
Python) with the sweep's folder
injected as RESULTS in a cell after the one tagged "parameters", and writes the page,
without code, to RESULTS_DIR/report.html: the runs with their swept parameters, the
L0-reconstruction frontier, learning curves by hyperparameter and per-unit activation
bars. Needs Jupyter: scripts/setup.sh installs it into .venv.`)
	nbPath := flags.String("notebook", "", "report notebook with a cell tagged parameters (default: the built-in experiments/report/report.ipynb)")
	jupyter := flags.String("jupyter", "", "jupyter executable (default .venv/bin/jupyter in this folder or one above, else jupyter on PATH)")
	out := flags.String("o", "", "HTML file to write (default RESULTS_DIR/report.html)")
	timeout := flags.Duration("timeout", 10*time.Minute, "longest a notebook cell may run")
	if code := parse(flags, args); code >= 0 {
		return code
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}
	dir, err := reportDir(flags.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	if *jupyter == "" {
		*jupyter = findVenvJupyter()
		if *jupyter == "" {
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

// reportDir is the sweep folder of the report, absolute; it must be a sweep's results
// folder and, since the notebook gets it as a Python str through JSON, a UTF-8 path.
func reportDir(arg string) (string, error) {
	dir, err := filepath.Abs(arg)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(dir) {
		return "", fmt.Errorf("%q is not UTF-8: the notebook (JSON) and its RESULTS (a Python str) cannot name this folder exactly; rename it, or link it from a UTF-8 name (ln -s) and give the link", dir)
	}
	if _, err := results.Open(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// report executes the notebook (nbPath, or the built-in one when "") with RESULTS = dir
// and writes its HTML to out, through a temporary file and a rename (a failed run
// leaves the previous report in place).
func report(nbPath, jupyter, dir, out string, timeout time.Duration) error {
	var raw []byte
	var err error
	if nbPath == "" {
		nbPath = "experiments/report/report.ipynb (built in)"
		raw, err = reportFiles.ReadFile("report/report.ipynb")
	} else {
		raw, err = os.ReadFile(nbPath)
	}
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
	templates, err := fs.Sub(reportFiles, "report")
	if err != nil {
		return err
	}
	if err := os.CopyFS(filepath.Join(work, "templates"), templates); err != nil {
		return err
	}
	nb := filepath.Join(work, "report.ipynb")
	if err := os.WriteFile(nb, injected, 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, jupyter, "nbconvert", "--to", "html", "--execute", "--no-input",
		"--TemplateExporter.extra_template_basedirs="+filepath.Join(work, "templates"), "--template", "template",
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
// notebook's cell tagged "parameters", as papermill does. Each value is written as a
// JSON string, which Python reads as a str literal holding the same characters (JSON's
// escapes \" \\ \/ \b \f \n \r \t \uXXXX are Python's too, and encoding/json writes
// every control character, and U+2028/U+2029, escaped), so no value can end the literal
// or the line; names must be Python identifiers, and values UTF-8 (JSON, and so the
// notebook, holds nothing else: encoding/json would silently replace the bytes).
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
		if !pythonIdentifier.MatchString(k) {
			return nil, fmt.Errorf("parameter name %q: not a Python identifier", k)
		}
		if !utf8.ValidString(values[k]) {
			return nil, fmt.Errorf("parameter %s = %q: not UTF-8, which a notebook cannot hold", k, values[k])
		}
		lit, err := json.Marshal(values[k]) // a JSON string is a valid Python string literal
		if err != nil {
			return nil, err
		}
		src += fmt.Sprintf("%s = %s\n", k, lit)
	}
	cell := map[string]any{"cell_type": "code", "execution_count": nil, "id": "injected-parameters",
		"metadata": map[string]any{"tags": []any{"injected-parameters"}}, "outputs": []any{}, "source": src}
	nb["cells"] = slices.Insert(cells, at+1, any(cell))
	return json.MarshalIndent(nb, "", " ")
}

// pythonIdentifier is an ASCII Python identifier (the report's parameters are ASCII).
var pythonIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// findVenvJupyter returns .venv/bin/jupyter of the working directory or the first
// folder above it that has one (scripts/setup.sh installs it there), else "".
func findVenvJupyter() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if p := filepath.Join(dir, ".venv", "bin", "jupyter"); fileExists(p) {
			return p
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
