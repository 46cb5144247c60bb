package nb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// Verbose asks Open for the runner's whole log (progress, the best runs, compaction,
// sizes) instead of one line per run it trains.
var Verbose = false

// Log is where the runner's lines go (the cell's output).
var Log io.Writer = os.Stdout

// Open returns the results of the spec at path (relative to the checkout, or
// absolute), run into the results root out with the overrides set ("key=value", as
// --set): the folder out/<spec name>. When every run of the spec is recorded there as
// done (completed or diverged) and its files are sound, it only reads; otherwise it
// first runs the spec with `go run ./experiments --resume`, which trains what is
// missing (see the package comment). Every cell of a notebook can call it: the first
// trains, the others read.
func Open(path, out string, set ...string) *Sweep {
	path, out = abs(path), abs(out)
	dir, done, err := recorded(path, out, set)
	Check(err)
	if !done {
		Check(runSpec(path, out, set))
		if _, done, err = recorded(path, out, set); err != nil || !done {
			Check(errors.Join(err, fmt.Errorf("nb: %s: the runner ended with runs of %s not done", rel(path), rel(dir))))
		}
	}
	return read(dir)
}

// Seed returns the results of experiments/seeds/<name>.yaml under SeedsRoot, full or
// shortened (QuickSet) as the switch says: Open for the seed notebooks.
func Seed(name string) *Sweep {
	set := IfQuick(QuickSet...)
	s := Open(filepath.Join("experiments", "seeds", name+".yaml"), SeedsRoot(), set...)
	s.Mode = Mode()
	if set != nil {
		s.Mode += fmt.Sprintf(": %s", strings.Join(set, " "))
	}
	return s
}

// Results reads the sweep folder dir (relative to the checkout, or absolute) that an
// earlier cell filled, without a spec: it trains nothing.
func Results(dir string) *Sweep { return read(abs(dir)) }

// recorded reports the sweep folder of spec path with the overrides set under out, and
// whether each of its runs is recorded done with sound files (results.Verify): what
// the runner's --resume would skip.
func recorded(path, out string, set []string) (dir string, done bool, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("nb: %w", err)
	}
	s, src, err := spec.ParseWithSets(path, raw, set)
	if err != nil {
		return "", false, err
	}
	runs, err := sweep.ExpandIDs(s, src)
	if err != nil {
		return "", false, err
	}
	dir = filepath.Join(out, s.Name)
	if _, err := os.Stat(filepath.Join(dir, results.RunsTable)); errors.Is(err, fs.ErrNotExist) {
		return dir, false, nil
	}
	statuses, err := results.ReadStatuses(dir)
	if err != nil {
		return dir, false, err
	}
	for _, r := range runs {
		if !results.Done(statuses[r.ID]) {
			return dir, false, nil
		}
	}
	damaged, err := results.Verify(dir)
	return dir, err == nil && len(damaged) == 0, err
}

// runSpec runs the spec with the project's command (runCommand), resuming.
func runSpec(path, out string, set []string) error {
	args := []string{"--resume", "--out", out}
	if !Verbose {
		args = append(args, "--brief")
	}
	if d := DataDir(); d != "" {
		args = append(args, "--data-dir", d)
	}
	for _, kv := range set {
		args = append(args, "--set", kv)
	}
	return runCommand(Root(), append(args, path))
}

// runCommand runs `go run ./experiments args...` in the checkout root, its output on
// Log; an error carries the output's last lines. A variable, so that tests can run the
// runner in process.
var runCommand = func(root string, args []string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("nb: training needs the go command on PATH (the GoNB kernel has it): %w", err)
	}
	cmd := exec.Command(goBin, append([]string{"run", "./experiments"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off") // the checkout's own module, whatever go.work is about
	var tail bytes.Buffer
	out := io.MultiWriter(Log, &tail)
	cmd.Stdout, cmd.Stderr = out, out // the same writer: one pipe, no two goroutines writing Log
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(tail.String()), "\n")
		return fmt.Errorf("nb: go run ./experiments %s: %w\n%s", strings.Join(args, " "), err, strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
	return nil
}
