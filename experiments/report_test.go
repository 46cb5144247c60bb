package main

import (
	"encoding/json"
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

// The injected parameters cell of the built-in notebook, for every hostile string as
// RESULTS, is one Python assignment that evaluates to that string exactly (read back by
// Python's own parser); a value a notebook cannot hold (not UTF-8) or a name that is
// not an identifier is refused.
func TestInjectedParametersReadBackInPythonAsTheSameString(t *testing.T) {
	raw, err := reportFiles.ReadFile("report/report.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	values := append([]string{"\u2028\u2029\x00\x1b\x7f", `"""`, `'''`, `\u0041\n`, `\`, "é ✓ 𝔘", "/results/quickstart"}, hostileStrings...)
	var sources, want []string
	for _, v := range values {
		nb, err := injectParameters(raw, map[string]string{"RESULTS": v})
		if !utf8.ValidString(v) {
			if err == nil || !strings.Contains(err.Error(), "UTF-8") {
				t.Errorf("RESULTS %q (not UTF-8): %v, want a refusal", v, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("RESULTS %q: %v", v, err)
		}
		var doc struct {
			Cells []struct {
				ID       string         `json:"id"`
				Source   cellSource     `json:"source"`
				Metadata map[string]any `json:"metadata"`
			} `json:"cells"`
		}
		if err := json.Unmarshal(nb, &doc); err != nil {
			t.Fatal(err)
		}
		at := -1
		for i, c := range doc.Cells {
			if c.ID == "injected-parameters" {
				at = i
			}
		}
		if at < 1 || !strings.Contains(string(doc.Cells[at-1].Source), "RESULTS =") {
			t.Fatalf("no injected cell right after the parameters cell")
		}
		sources, want = append(sources, string(doc.Cells[at].Source)), append(want, v)
	}
	for _, bad := range []string{"1x", "a b", "RESULTS = 1; import os", ""} {
		if _, err := injectParameters(raw, map[string]string{bad: "x"}); err == nil {
			t.Errorf("parameter name %q accepted", bad)
		}
	}
	in, _ := json.Marshal(map[string]any{"sources": sources, "want": want})
	check := `
import ast, json, sys
d = json.load(sys.stdin)
for src, want in zip(d["sources"], d["want"]):
    tree = ast.parse(src)
    assigns = [n for n in tree.body if isinstance(n, ast.Assign)]
    ok = (len(tree.body) == 1 and len(assigns) == 1 and [t.id for t in assigns[0].targets] == ["RESULTS"]
          and isinstance(assigns[0].value, ast.Constant) and assigns[0].value.value == want)
    env = {}
    exec(compile(tree, "<injected>", "exec"), env)
    if not ok or env["RESULTS"] != want:
        print("MISMATCH", repr(src), repr(want))
print("checked", len(d["sources"]))
`
	cmd := exec.Command(python(t), "-c", check)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "MISMATCH") || !strings.Contains(string(out), "checked") {
		t.Errorf("Python read the injected cells differently: %v\n%s", err, out)
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
