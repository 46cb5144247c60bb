package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

// The command is built once per test binary; every test below runs it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "experiments-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "experiments")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building the command: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCmd runs the command from the repository root and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = ".."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s was written to: %v", dir, names)
	}
}

// Every broken spec of the corpus exits 2, names the file and writes nothing.
func TestBadSpecsExit2AndWriteNothing(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "pkg", "spec", "testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 35 {
		t.Fatalf("only %d corpus files", len(files))
	}
	for _, file := range files {
		rel, err := filepath.Rel("..", file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			code, stdout, stderr := runCmd(t, "--out", out, rel)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, rel) {
				t.Errorf("stderr does not name %s: %s", rel, stderr)
			}
			assertEmpty(t, out)
		})
	}
	t.Logf("ran the command on %d broken specs", len(files))
}

var runLine = regexp.MustCompile(`(?m)^\s*\d+\s+[0-9a-f]{12}\s+seed=\d+\s`)

func TestDryRunQuickstartPrintsItsRuns(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCmd(t, "--dry-run", "--out", out, "experiments/quickstart.yaml")
	if code != 0 {
		t.Fatalf("exit code %d\n%s%s", code, stdout, stderr)
	}
	// 3 weights x 3 targets x 2 seeds, one a line on stdout (so that | wc -l counts runs).
	if n := len(runLine.FindAllString(stdout, -1)); n != 18 || strings.Count(stdout, "\n") != 18 {
		t.Errorf("%d run lines on stdout, want 18 and nothing else:\n%s", n, stdout)
	}
	if !strings.Contains(stderr, "18 runs") {
		t.Errorf("stderr lacks the summary: %s", stderr)
	}
	assertEmpty(t, out)
}

func TestDryRunJSONIsOneObjectPerRun(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCmd(t, "--dry-run", "--json", "--out", out, "experiments/quickstart.yaml")
	if code != 0 {
		t.Fatalf("exit code %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 18 {
		t.Fatalf("%d lines, want 18:\n%s", len(lines), stdout)
	}
	for i, line := range lines {
		var run struct {
			Index  int            `json:"index"`
			ID     string         `json:"run_id"`
			Seed   int64          `json:"seed"`
			Params map[string]any `json:"params"`
			Config map[string]any `json:"config"`
		}
		if err := json.Unmarshal([]byte(line), &run); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", i, err, line)
		}
		if run.Index != i || len(run.ID) != 12 || len(run.Params) != 2 || run.Config["name"] != "quickstart-kl" {
			t.Errorf("line %d: %+v", i, run)
		}
	}
	if code, _, _ := runCmd(t, "--json", "--out", out, "experiments/quickstart.yaml"); code != 2 {
		t.Errorf("--json without --dry-run: exit %d, want 2", code)
	}
	assertEmpty(t, out)
}

// A zero written in the spec (here through --set) is used as written or refused with
// exit 2 naming the key, never replaced by the default.
func TestZeroTheUserWritesIsRefusedNotDefaulted(t *testing.T) {
	for key, want := range map[string]string{
		"optimizer.learning_rate": "0 < learning_rate <= 10",
		"optimizer.epsilon":       "0 < epsilon <= 1",
	} {
		out := t.TempDir()
		code, _, stderr := runCmd(t, "--dry-run", "--out", out, "--set", key+"=0", "experiments/quickstart.yaml")
		if code != 2 || !strings.Contains(stderr, key) || !strings.Contains(stderr, want) {
			t.Errorf("--set %s=0: exit %d, stderr %s", key, code, stderr)
		}
	}
}

func TestBadCommandLinesExit2(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown flag":     {"--no-such-flag", "experiments/quickstart.yaml"},
		"missing argument": {},
		"two arguments":    {"experiments/quickstart.yaml", "experiments/quickstart.yaml"},
		"bad shard":        {"--shard", "3/2", "experiments/quickstart.yaml"},
		"missing file":     {"experiments/no-such-spec.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			code, stdout, stderr := runCmd(t, append([]string{"--out", out}, args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if stderr == "" {
				t.Errorf("nothing on stderr")
			}
			assertEmpty(t, out)
		})
	}
}

func TestEveryVerbHasItsOwnHelp(t *testing.T) {
	for _, v := range []string{"compact", "download", "tables"} {
		code, stdout, stderr := runCmd(t, v, "-h")
		if code != 0 || !strings.Contains(stdout+stderr, "usage: go run ./experiments "+v) {
			t.Errorf("%s -h: exit %d\n%s%s", v, code, stdout, stderr)
		}
	}
	code, stdout, stderr := runCmd(t, "-h")
	for _, v := range []string{"compact", "download"} {
		if !strings.Contains(stdout+stderr, "  "+v+" ") {
			t.Errorf("-h (exit %d) does not list the verb %s:\n%s%s", code, v, stdout, stderr)
		}
	}
	if code, _, stderr := runCmd(t, "compact"); code != 2 || !strings.Contains(stderr, "usage") {
		t.Errorf("compact without a folder: exit %d, %s", code, stderr)
	}
}

// The tables verb prints results.Registry, one JSON object a line on stdout: the list
// the Python tests read.
func TestTablesVerbPrintsTheRegistryAsJSON(t *testing.T) {
	code, stdout, stderr := runCmd(t, "tables")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var tab struct {
			Name     string   `json:"name"`
			Key      []string `json:"key"`
			Columns  []string `json:"columns"`
			Optional bool     `json:"optional"`
		}
		if err := json.Unmarshal([]byte(line), &tab); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		decl, ok := results.Lookup(tab.Name)
		if !ok || !slices.Equal(tab.Key, decl.Key) || !slices.Equal(tab.Columns, decl.Columns()) || tab.Optional != decl.Optional {
			t.Errorf("printed %+v, declared %+v", tab, decl)
		}
		names = append(names, tab.Name)
	}
	if !slices.Equal(names, results.Tables) {
		t.Errorf("printed tables %v, declared %v", names, results.Tables)
	}
	if code, _, _ := runCmd(t, "tables", "extra"); code != 2 {
		t.Errorf("tables with an argument: exit %d, want 2", code)
	}
}

const tinySpec = `name: tiny
dataset: {name: digits, max_train_samples: 100, max_validation_samples: 40}
model:
  encoder: [{units: 8, activation: relu}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 50}
record: {activations: {samples: 4}}
sweep:
  method: grid
  parameters:
    optimizer.learning_rate: {values: [0.01, 0.02]}
  seeds: [1, 2]
`

func TestCompactVerbMergesASweepAndIsIdempotent(t *testing.T) {
	out := t.TempDir()
	spec := filepath.Join(out, "tiny.yaml")
	if err := os.WriteFile(spec, []byte(tinySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "--backend", "go", "--no-compact", "--out", out, spec)
	if code != 0 {
		t.Fatalf("sweep: exit %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`results: .* in 20 files, .* per run`).MatchString(stderr) {
		t.Errorf("no size line for 4 runs x 5 tables (the final weights kept by default; no reconstructions recorded: no file) in:\n%s", stderr)
	}
	dir := filepath.Join(out, "tiny")
	code, stdout, stderr := runCmd(t, "compact", dir)
	if code != 0 || !strings.Contains(stdout, "metrics\t4 files -> 1\t4 runs merged") {
		t.Fatalf("compact: exit %d\n%s%s", code, stdout, stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "metrics", "*.parquet")); len(files) != 1 {
		t.Errorf("metrics after compaction: %v", files)
	}
	code, stdout, _ = runCmd(t, "compact", dir)
	if code != 0 || !strings.Contains(stdout, "metrics\t1 files -> 1\t0 runs merged") {
		t.Errorf("compact again: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := runCmd(t, "compact", out); code != 1 || !strings.Contains(stderr, "not a sweep") {
		t.Errorf("compact of a folder that is not a sweep: exit %d, %s", code, stderr)
	}
}

func TestDownloadVerb(t *testing.T) {
	if code, _, stderr := runCmd(t, "download", "digits"); code != 2 || !strings.Contains(stderr, "embedded") {
		t.Errorf("download digits: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "download", "cifar"); code != 2 || !strings.Contains(stderr, "fashion-mnist") {
		t.Errorf("download of an unknown dataset: exit %d, %s", code, stderr)
	}
	// A mirror that has nothing: the error names the file.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	code, _, stderr := runCmd(t, "download", "--data-dir", t.TempDir(), "--base-url", srv.URL, "mnist")
	if code != 1 || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "train-images-idx3-ubyte") {
		t.Errorf("download from an empty mirror: exit %d, %s", code, stderr)
	}
	// Files already there and valid: nothing is fetched (the mirror would fail).
	shared := filepath.Join("..", "..", "shared", "datasets")
	if _, err := os.Stat(filepath.Join(shared, "mnist")); err != nil {
		t.Skip("no ../shared/datasets/mnist beside the repository")
	}
	abs, _ := filepath.Abs(shared)
	code, stdout, stderr := runCmd(t, "download", "--data-dir", abs, "--base-url", srv.URL, "mnist")
	if code != 0 || !strings.Contains(stdout, "mnist\t") {
		t.Errorf("download of present files: exit %d\n%s%s", code, stdout, stderr)
	}
}
