package main

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/runner"
)

// The main command takes its run flags before or after the spec, with the same
// result; `SPEC --resume` once printed the usage.
func TestRunFlagsWorkBeforeOrAfterTheSpec(t *testing.T) {
	spec := "experiments/quickstart.yaml"
	flags := []string{"--dry-run", "--json", "--shard", "1/3", "--set", "train.epochs=2", "--set=train.seed=5"}
	_, want, _ := runCmd(t, append(slices.Clone(flags), spec)...)
	if len(strings.Split(strings.TrimSpace(want), "\n")) != 6 || !strings.Contains(want, `"epochs":2`) {
		t.Fatalf("flags before the spec: %q", want)
	}
	for name, args := range map[string][]string{
		"after":  append([]string{spec}, flags...),
		"around": append(append(slices.Clone(flags[:4]), spec), flags[4:]...),
	} {
		code, got, stderr := runCmd(t, args...)
		if code != 0 || got != want {
			t.Errorf("flags %s the spec: exit %d, stdout differs: %v\n%s", name, code, got != want, stderr)
		}
	}
	for name, args := range map[string][]string{
		"--json without --dry-run": {spec, "--json"},
		"negative group size":      {spec, "--dry-run", "--group-size", "-1"},
		"unknown flag after":       {spec, "--no-such-flag"},
		"flag value missing":       {spec, "--shard"},
		// A verb's flags after its arguments are flags too, not folder names.
		"verb flag after its argument": {"compact", t.TempDir(), "--row-group-mb", "0"},
	} {
		if code, _, stderr := runCmd(t, args...); code != 2 || stderr == "" {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a message", name, code, stderr)
		}
	}
}

func TestReorderMovesFlagsBeforeArgumentsAndKeepsValues(t *testing.T) {
	var rf runFlags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	rf.registerAll(fs)
	for _, c := range []struct{ in, want []string }{
		{[]string{"a.yaml", "--resume", "--out", "o"}, []string{"--resume", "--out", "o", "--", "a.yaml"}},
		{[]string{"--out", "o", "a.yaml"}, []string{"--out", "o", "--", "a.yaml"}},
		{[]string{"a.yaml", "--out=o", "b"}, []string{"--out=o", "--", "a.yaml", "b"}},
		// A value that looks like a flag stays the flag's value; after "--" all is positional.
		{[]string{"--set", "-x=1", "a.yaml", "--", "--resume"}, []string{"--set", "-x=1", "--", "a.yaml", "--resume"}},
		{[]string{"--resume"}, []string{"--resume"}},
	} {
		got := reorder(fs, c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("reorder(%q) = %q, want %q", c.in, got, c.want)
		}
		if again := reorder(fs, got); !slices.Equal(again, got) {
			t.Errorf("reorder is not idempotent on %q: %q", got, again)
		}
	}
	if err := fs.Parse(reorder(fs, []string{"a.yaml", "--resume", "--set", "k=v", "--group-size", "3"})); err != nil ||
		!rf.resume || rf.groupSize != 3 || !slices.Equal(rf.sets, []string{"k=v"}) || fs.Arg(0) != "a.yaml" {
		t.Errorf("parsed %+v, args %q, %v", rf, fs.Args(), err)
	}
}

func TestQuietAndBriefAreMainCommandFlagsThatReachTheRunner(t *testing.T) {
	for _, name := range []string{"quiet", "brief"} {
		var rf runFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		rf.registerAll(fs)
		if err := fs.Parse(reorder(fs, []string{"a.yaml", "--" + name})); err != nil {
			t.Fatal(err)
		}
		o, err := rf.options(func(string) string { return "" })
		if err != nil || o.Quiet != (name == "quiet") || o.Brief != (name == "brief") {
			t.Errorf("--%s gave options %+v (%v)", name, o, err)
		}
		// The cluster verbs pass on only the flags every task shares: these are not.
		var task runFlags
		tfs := flag.NewFlagSet("t", flag.ContinueOnError)
		task.register(tfs, true)
		if tfs.Lookup(name) != nil {
			t.Errorf("--%s is registered for the cluster verbs' tasks", name)
		}
	}
}

// --log-every sets how often a log gets a line while runs train (0: every epoch, which
// the runner spells negative); a negative duration is refused; the Slurm tasks get it.
func TestLogEveryReachesTheRunnerAndTheSlurmTasks(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want time.Duration
	}{{"", runner.DefaultLogEvery}, {"5s", 5 * time.Second}, {"0", -1}} {
		var rf runFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		rf.registerAll(fs)
		args := []string{"a.yaml"}
		if c.arg != "" {
			args = append(args, "--log-every", c.arg)
		}
		if err := fs.Parse(reorder(fs, args)); err != nil {
			t.Fatal(err)
		}
		o, err := rf.options(func(string) string { return "" })
		if err != nil || o.LogEvery != c.want {
			t.Errorf("--log-every %q: LogEvery %v (%v), want %v", c.arg, o.LogEvery, err, c.want)
		}
		f, err := rf.taskFlags()
		if has := slices.Contains(f, "--log-every"); err != nil || has != (c.arg != "") {
			t.Errorf("--log-every %q: task flags %q (%v)", c.arg, f, err)
		}
	}
	if code, _, stderr := runCmd(t, "experiments/quickstart.yaml", "--dry-run", "--log-every", "-1s"); code != 2 || !strings.Contains(stderr, "--log-every") {
		t.Errorf("--log-every -1s: exit %d, stderr %q; want 2 naming the flag", code, stderr)
	}
}
