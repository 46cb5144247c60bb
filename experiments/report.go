package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
Python) through papermill, with the sweep's
folder injected as RESULTS in a cell after the one tagged "parameters", and writes the page,
without code, to RESULTS_DIR/report.html: the runs with their swept parameters, the
L0-reconstruction frontier, learning curves by hyperparameter and per-unit activation
bars. Needs Jupyter and papermill (next to jupyter, else on PATH): scripts/setup.sh
installs them into .venv.`)
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
// through papermill (next to jupyter: .venv/bin/papermill, else papermill on PATH),
// which injects the parameters in a cell after the one tagged "parameters", then
// converts the executed notebook to HTML with nbconvert, and writes it to out through a
// temporary file and a rename (a failed run leaves the previous report in place).
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
	if err := hasParametersCell(raw); err != nil {
		return fmt.Errorf("%s: %w", nbPath, err)
	}
	params, err := parametersYAML(map[string]string{"RESULTS": dir})
	if err != nil {
		return fmt.Errorf("%s: %w", nbPath, err)
	}
	papermill := filepath.Join(filepath.Dir(jupyter), "papermill")
	if !fileExists(papermill) {
		if papermill, err = exec.LookPath("papermill"); err != nil {
			return errors.New("no papermill next to " + jupyter + " or on PATH: run scripts/setup.sh (it installs .venv/bin/papermill)")
		}
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
	nb, executed, paramsFile := filepath.Join(work, "report.ipynb"), filepath.Join(work, "executed.ipynb"), filepath.Join(work, "parameters.yaml")
	if err := os.WriteFile(nb, raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(paramsFile, params, 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	// The values go to papermill in a file (never through a shell or a command line),
	// which it reads as YAML and writes into the notebook as Python str literals.
	cmd := exec.CommandContext(ctx, papermill, "--no-progress-bar", "--log-level", "WARNING",
		"--execution-timeout", fmt.Sprint(int(timeout.Seconds())), "--cwd", work,
		"-f", paramsFile, nb, executed)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("executing %s with RESULTS=%s: %w", nbPath, dir, err)
	}
	cmd = exec.CommandContext(ctx, jupyter, "nbconvert", "--to", "html", "--no-input",
		"--TemplateExporter.extra_template_basedirs="+filepath.Join(work, "templates"), "--template", "template",
		"--output-dir", work, "--output", "report", executed)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("converting %s (executed with RESULTS=%s) to HTML: %w", nbPath, dir, err)
	}
	return os.Rename(filepath.Join(work, "report.html"), out)
}

// hasParametersCell checks that the notebook has a cell tagged "parameters" (without
// one papermill would put its values at the top, before the defaults that overwrite them).
func hasParametersCell(raw []byte) error {
	var nb struct {
		Cells []struct {
			Metadata struct {
				Tags []string `json:"tags"`
			} `json:"metadata"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(raw, &nb); err != nil {
		return fmt.Errorf("not a notebook: %w", err)
	}
	for _, c := range nb.Cells {
		if slices.Contains(c.Metadata.Tags, parametersTag) {
			return nil
		}
	}
	return errors.New(`no cell tagged "parameters" (the report command has papermill inject its values after it)`)
}

// parametersYAML writes values (strings) as a YAML mapping for papermill's -f. Each value
// is a YAML double-quoted scalar with every character outside printable ASCII, and " and
// \, escaped (\uXXXX, \UXXXXXXXX), so PyYAML reads back the same str whatever it holds
// (control characters, DEL, U+2028, quotes, newlines, markup); names must be Python
// identifiers (papermill writes "name = value" lines), and values UTF-8 (the notebook,
// JSON, holds nothing else).
func parametersYAML(values map[string]string) ([]byte, error) {
	keys := slices.Sorted(maps.Keys(values))
	var b strings.Builder
	for _, k := range keys {
		if !pythonIdentifier.MatchString(k) {
			return nil, fmt.Errorf("parameter name %q: not a Python identifier", k)
		}
		v := values[k]
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("parameter %s = %q: not UTF-8, which a notebook cannot hold", k, v)
		}
		b.WriteString(k + `: "`)
		for _, r := range v {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r >= 0x20 && r < 0x7f:
				b.WriteRune(r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
		b.WriteString("\"\n")
	}
	return []byte(b.String()), nil
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
