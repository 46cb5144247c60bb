package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// python returns the project's Python (.venv, made by scripts/setup.sh), else python3.
func python(t *testing.T) string {
	t.Helper()
	for dir := "."; ; dir = filepath.Join(dir, "..") {
		abs, _ := filepath.Abs(dir)
		if p := filepath.Join(abs, ".venv", "bin", "python"); fileExists(p) {
			return p
		}
		if filepath.Dir(abs) == abs {
			break
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no Python: run scripts/setup.sh")
	}
	return p
}

// papermill's injected-parameters cell in the built-in notebook, for every hostile
// string as a parameter (all at once: one papermill run, --prepare-only, reading the
// file parametersYAML wrote, as the report does), assigns exactly that string (read back
// by Python's own parser) and comes right after the parameters cell; a value a notebook
// cannot hold (not UTF-8) or a name that is not an identifier is refused.
func TestInjectedParametersReadBackInPythonAsTheSameString(t *testing.T) {
	py := python(t)
	if err := exec.Command(py, "-c", "import papermill").Run(); err != nil {
		t.Skip("no papermill in " + py + ": run scripts/setup.sh")
	}
	raw, err := reportFiles.ReadFile("report/report.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	values := append([]string{"\u2028\u2029\x00\x1b\x7f\u0085\ufeff\ufffe", `"""`, `'''`, `\u0041\n`, `\`, `\"`, "é ✓ 𝔘", "/results/quickstart",
		"", "- a\n: b", "~", "null", "1e3", "yes", "2026-12-03", "{a: 1}", "'x'", "%(x)s {x}"}, hostileStrings...)
	params := map[string]string{}
	for i, v := range values {
		_, err := parametersYAML(map[string]string{"RESULTS": v})
		if !utf8.ValidString(v) {
			if err == nil || !strings.Contains(err.Error(), "UTF-8") {
				t.Errorf("RESULTS %q (not UTF-8): %v, want a refusal", v, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("RESULTS %q: %v", v, err)
		}
		params[fmt.Sprintf("V%d", i)] = v
	}
	for _, bad := range []string{"1x", "a b", "RESULTS = 1; import os", ""} {
		if _, err := parametersYAML(map[string]string{bad: "x"}); err == nil {
			t.Errorf("parameter name %q accepted", bad)
		}
	}
	yml, err := parametersYAML(params)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nb, prepared, pf := filepath.Join(dir, "in.ipynb"), filepath.Join(dir, "out.ipynb"), filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(nb, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pf, yml, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, "-m", "papermill", "--prepare-only", "--no-progress-bar", "--log-level", "ERROR", "-f", pf, nb, prepared).CombinedOutput(); err != nil {
		t.Fatalf("papermill --prepare-only: %v\n%s", err, out)
	}
	in, _ := json.Marshal(map[string]any{"notebook": prepared, "want": params})
	check := `
import ast, json, sys
d = json.load(sys.stdin)
cells = json.load(open(d["notebook"], encoding="utf-8"))["cells"]
at = [i for i, c in enumerate(cells) if "injected-parameters" in c["metadata"].get("tags", [])]
assert len(at) == 1, at
assert "parameters" in cells[at[0] - 1]["metadata"].get("tags", []), "not right after the parameters cell"
tree = ast.parse("".join(cells[at[0]]["source"]))
got = {}
for n in tree.body:
    if not (isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.value, ast.Constant)):
        print("MISMATCH: not a constant assignment:", ast.dump(n))
        continue
    got[n.targets[0].id] = n.value.value
env = {}
exec(compile(tree, "<injected>", "exec"), env)
for k, want in d["want"].items():
    if got.get(k) != want or env.get(k) != want:
        print("MISMATCH", k, repr(got.get(k)), repr(want))
print("checked", len(d["want"]))
`
	cmd := exec.Command(py, "-c", check)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "MISMATCH") || !strings.Contains(string(out), fmt.Sprintf("checked %d", len(params))) {
		t.Errorf("Python read papermill's injected cell differently: %v\n%s", err, out)
	}
}

// A results folder whose path is not UTF-8 is refused with a reason and a way out,
// before Jupyter starts (it used to fail later, in the notebook, as a missing folder).
func TestReportRefusesANonUTF8FolderClearly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sweep-\xff\xfe")
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		t.Skipf("this file system refuses a non-UTF-8 name: %v", err)
	}
	_, err := reportDir(dir)
	if err == nil || !strings.Contains(err.Error(), "not UTF-8") || !strings.Contains(err.Error(), "ln -s") {
		t.Errorf("non-UTF-8 folder: %v", err)
	}
	good := filepath.Join(t.TempDir(), "sweep")
	if err := os.Symlink(dir, good); err != nil {
		t.Fatal(err)
	}
	if got, err := reportDir(good); err != nil || got != good {
		t.Errorf("a UTF-8 link to it: %q %v", got, err)
	}
}

// cellSource is a notebook cell's source: one string, or a list of lines (nbformat).
type cellSource string

func (c *cellSource) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*c = cellSource(s)
		return nil
	}
	var lines []string
	err := json.Unmarshal(b, &lines)
	*c = cellSource(strings.Join(lines, ""))
	return err
}
