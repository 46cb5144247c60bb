// Command experiments runs a sparse-autoencoder experiment spec:
//
//	go run ./experiments experiments/quickstart.yaml
//	go run ./experiments VERB -h          compact, download: see verbs.go
//
// It expands the spec's sweep, trains every run with GoMLX and writes per-epoch
// metrics, unit statistics and activations as Parquet under results/<name>/. See
// experiments/README.md for the spec keys and README.md for the results layout.
//
// Exit codes: 0 every run completed; 1 an error stopped the sweep; 2 bad spec or
// options (nothing written); 3 some runs diverged, failed or were interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/runner"
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) > 1 {
		if v, ok := verbs[os.Args[1]]; ok {
			return v.run(os.Args[1], os.Args[2:])
		}
	}
	var opts runner.Options
	var shard string
	flag.StringVar(&opts.Out, "out", "results", "results root folder")
	flag.StringVar(&opts.DataDir, "data-dir", "", "folder holding mnist/ and fashion-mnist/ (default $SAERUN_DATA_DIR, ../shared/datasets, or the user cache)")
	flag.StringVar(&opts.Backend, "backend", "", "auto, go, xla or xla:/path/plugin.so (default $GOMLX_BACKEND, else auto)")
	flag.BoolVar(&opts.Resume, "resume", false, "skip runs whose results are complete and run the rest")
	flag.StringVar(&shard, "shard", "", "i/n: run only the runs with index ≡ i (mod n); auto: from a Slurm array task's SLURM_ARRAY_TASK_ID (the default inside one)")
	flag.IntVar(&opts.GroupSize, "group-size", 0, "train up to this many compatible runs together in one compiled program (0: as many as fit, on a CPU a 128 MiB step and at most 16, on a GPU half its free memory and at most 256; 1: one run at a time)")
	flag.BoolVar(&opts.NoCompact, "no-compact", false, "keep one file per run and table when the sweep completes (default: compact them, see the compact verb)")
	flag.BoolVar(&opts.DryRun, "dry-run", false, "print the expanded runs (id, seed, parameters) and exit")
	flag.Func("set", "override a spec key, e.g. --set train.epochs=2 (repeatable; value in YAML)", func(v string) error {
		opts.Set = append(opts.Set, v)
		return nil
	})
	flag.BoolVar(&opts.JSON, "json", false, "with --dry-run: one JSON object a line (index, run_id, seed, params, config) on stdout")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./experiments [flags] SPEC.yaml\n       go run ./experiments VERB [flags] ARGS   (VERB -h for its usage)\n\nverbs:\n%s\nflags:\n", verbUsage())
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\nbackends: %v; datasets: %v\n", backend.Names, append(data.Names(), data.VectorNames()...))
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		return 2
	}
	if opts.JSON && !opts.DryRun {
		fmt.Fprintln(os.Stderr, "--json lists runs: use it with --dry-run")
		return 2
	}
	var from string
	var err error
	if opts.Shard, opts.Shards, from, err = parseShard(shard, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if from != "" {
		fmt.Fprintf(os.Stderr, "shard %d/%d (%s)\n", opts.Shard, opts.Shards, from)
	}

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "\ninterrupt: finishing the current epoch and writing what is complete (interrupt again to stop at once)")
		cancel()
		<-signals
		fmt.Fprintln(os.Stderr, "stopped: completed runs are saved; unfinished ones re-run with --resume")
		os.Exit(130)
	}()

	sum, err := runner.RunFile(ctx, flag.Arg(0), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		var usage *runner.UsageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	if opts.DryRun {
		return 0
	}
	fmt.Fprintf(os.Stderr, "done in %.1fs: %d completed, %d diverged, %d failed, %d interrupted, %d skipped (already done); results in %s\n",
		sum.Wall.Seconds(), sum.Completed, sum.Diverged, sum.Failed, sum.Interrupt, sum.Skipped, sum.Dir)
	if !sum.Finished() {
		return 3
	}
	return 0
}
