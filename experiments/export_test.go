package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The export verb writes one folder per run of a sweep and prints one line per run on
// stdout; bad arguments exit 2, an unknown or odd run id and an --out with files exit
// 1 and write nothing.
func TestExportVerbWritesAFolderPerRunAndRefusesBadRunsAndAFullOut(t *testing.T) {
	out := t.TempDir()
	spec := filepath.Join(out, "tiny.yaml")
	if err := os.WriteFile(spec, []byte(tinySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "--backend", "go", "--out", out, spec); code != 0 {
		t.Fatalf("sweep: exit %d\n%s", code, stderr)
	}
	dir := filepath.Join(out, "tiny")
	exp := filepath.Join(out, "exported")
	code, stdout, stderr := runCmd(t, "export", dir, "--out", exp)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 4 || !strings.Contains(lines[0], "\tsafetensors\tautoencoder\t") {
		t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
	}
	id := strings.Split(lines[0], "\t")[0]
	for _, f := range []string{"model.safetensors", "config.json"} {
		if _, err := os.Stat(filepath.Join(exp, id, f)); err != nil {
			t.Error(err)
		}
	}
	if code, _, _ := runCmd(t, "export", dir); code != 2 {
		t.Errorf("export without --out: exit %d, want 2", code)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--run", "ffffffffffff", "--out", filepath.Join(out, "a")}, "no run ffffffffffff"},
		{[]string{"--run", "../tiny", "--out", filepath.Join(out, "b")}, `"../tiny"`},
		{[]string{"--run", id, "--format", "saelens", "--out", filepath.Join(out, "c")}, "sparse autoencoders (kind sae) only"},
		{[]string{"--out", exp}, "exists and holds 4"},
	} {
		code, stdout, stderr := runCmd(t, append([]string{"export", dir}, c.args...)...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("export %v: exit %d, stdout %q, stderr %q; want 1 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("a refused export wrote %s", name)
		}
	}
}
