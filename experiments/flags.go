package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sparselab/saerun/pkg/runner"
)

// runFlags are the run flags, declared once: the main command registers them all
// (registerAll), the cluster verbs the ones they pass on to every task (register),
// with the same names and meanings. Every command line accepts flags before or after
// its positional arguments (reorder).
type runFlags struct {
	out, backend, dataDir string
	groupSize             int
	logEvery              time.Duration
	noCompact             bool
	sets                  []string

	// The main command's own: the cluster verbs set these for their tasks.
	resume, dryRun, json, quiet, brief bool
	shard                              string
	trackingURI                        string
}

// register adds the flags every task of a cluster verb shares with the main command
// (--no-compact only with noCompact).
func (r *runFlags) register(fs *flag.FlagSet, noCompact bool) {
	fs.StringVar(&r.out, "out", "results", "results root folder (on a cluster: one every node shares)")
	fs.StringVar(&r.dataDir, "data-dir", "", "folder holding mnist/ and fashion-mnist/ (default $SAERUN_DATA_DIR, ../shared/datasets, or the user cache)")
	fs.StringVar(&r.backend, "backend", "", "auto, go, xla or xla:/path/plugin.so (default $GOMLX_BACKEND, else auto)")
	fs.IntVar(&r.groupSize, "group-size", 0, "train up to this many compatible runs together in one compiled program (0: as many as fit, on a CPU a 128 MiB step and at most 16, on a GPU half its free memory and at most 256; 1: one run at a time)")
	fs.DurationVar(&r.logEvery, "log-every", runner.DefaultLogEvery, "in a log (stderr not a terminal), a line about the runs training at most this often, e.g. 10s or 5m; 0: at every epoch")
	if noCompact {
		fs.BoolVar(&r.noCompact, "no-compact", false, "keep one file per run and table when the sweep completes (default: compact them, see the compact verb)")
	}
	fs.Func("set", "override a spec key, e.g. --set train.epochs=2 (repeatable; value in YAML)", func(v string) error {
		r.sets = append(r.sets, v)
		return nil
	})
}

// registerAll adds every run flag: those of register and the main command's own.
func (r *runFlags) registerAll(fs *flag.FlagSet) {
	r.register(fs, true)
	fs.BoolVar(&r.resume, "resume", false, "skip runs whose results are complete and run the rest")
	fs.StringVar(&r.shard, "shard", "", "i/n: run only the runs with index ≡ i (mod n); auto: from a Slurm array task's SLURM_ARRAY_TASK_ID (the default inside one)")
	fs.BoolVar(&r.dryRun, "dry-run", false, "print the expanded runs (id, seed, parameters) and exit")
	fs.BoolVar(&r.quiet, "quiet", false, "print only warnings and the summary (the best runs) on stderr: no progress")
	fs.BoolVar(&r.brief, "brief", false, "print one line per run when it ends, and warnings, on stderr: no progress, no summary (what the notebooks show)")
	fs.StringVar(&r.trackingURI, "tracking-uri", "", "log every run live to the MLflow tracking server at this http(s) address (default $MLFLOW_TRACKING_URI; unset: no tracking)")
	fs.BoolVar(&r.json, "json", false, "with --dry-run: one JSON object a line (index, run_id, seed, params, config) on stdout")
}

// options are the runner's options the flags give; an error is a usage error
// (exit 2). A shard taken from the environment is reported on stderr.
func (r *runFlags) options(getenv func(string) string) (runner.Options, error) {
	opts := runner.Options{Out: r.out, DataDir: r.dataDir, Backend: r.backend, Resume: r.resume,
		GroupSize: r.groupSize, DryRun: r.dryRun, NoCompact: r.noCompact, Set: r.sets, JSON: r.json, Quiet: r.quiet, Brief: r.brief}
	if r.json && !r.dryRun {
		return opts, fmt.Errorf("--json lists runs: use it with --dry-run")
	}
	if r.logEvery < 0 {
		return opts, fmt.Errorf("--log-every %s: want a duration of 0 (every epoch) or more, e.g. 30s", r.logEvery)
	}
	opts.LogEvery = r.logEvery
	if r.logEvery == 0 {
		opts.LogEvery = -1 // the runner's "every epoch"
	}
	if r.groupSize < 0 {
		return opts, fmt.Errorf("--group-size %d: want 0 (automatic) or more", r.groupSize)
	}
	var from string
	var err error
	if opts.Shard, opts.Shards, from, err = parseShard(r.shard, getenv); err != nil {
		return opts, err
	}
	if from != "" {
		fmt.Fprintf(os.Stderr, "shard %d/%d (%s)\n", opts.Shard, opts.Shards, from)
	}
	return opts, nil
}

// reorder moves the flags among args in front of the positional arguments, so that
// both "SPEC.yaml --resume" and "--resume SPEC.yaml" work (and "slurm SPEC.yaml
// --tasks 4", as in the docs). A flag's value stays with it; "--" ends the flags.
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	if len(pos) > 0 {
		flags = append(flags, "--") // a positional argument that starts with "-" stays one
	}
	return append(flags, pos...)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
