// Command experiments runs a sparse-autoencoder experiment spec:
//
//	go run ./experiments experiments/quickstart.yaml [--resume] [...]
//	go run ./experiments VERB -h          compact, download, report, slurm, ...: see verbs.go
//
// The run flags (flags.go) are declared once for the main command and the cluster
// verbs, and every command line takes its flags before or after its arguments.
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
	var rf runFlags
	rf.registerAll(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./experiments [flags] SPEC.yaml [flags]\n       go run ./experiments VERB [flags] ARGS   (VERB -h for its usage)\n\nverbs:\n%s\nflags:\n", verbUsage())
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\nbackends: %v; datasets: %v\n", backend.Names, append(data.Names(), data.VectorNames()...))
	}
	flag.CommandLine.Parse(reorder(flag.CommandLine, os.Args[1:])) // exits 2 on a bad flag, 0 after -h
	if flag.NArg() != 1 {
		flag.Usage()
		return 2
	}
	opts, err := rf.options(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	tracker, err := startTracking(trackingURI(rf.trackingURI, os.Getenv), &opts, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "\ninterrupt: finishing the current epoch (a streamed set's run: the current chunk, with a checkpoint) and writing what is complete (interrupt again to stop at once)")
		cancel()
		<-signals
		fmt.Fprintln(os.Stderr, "stopped: completed runs are saved; unfinished ones re-run with --resume")
		os.Exit(130)
	}()

	sum, err := runner.RunFile(ctx, flag.Arg(0), opts)
	finishTracking(tracker, sum.Dir, opts, ctx.Err() != nil, os.Stderr)
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
	if !opts.Brief { // its runs had their lines
		fmt.Fprintf(os.Stderr, "done in %.1fs: %d completed, %d diverged, %d failed, %d interrupted, %d skipped (already done); results in %s\n",
			sum.Wall.Seconds(), sum.Completed, sum.Diverged, sum.Failed, sum.Interrupt, sum.Skipped, sum.Dir)
	}
	if !sum.Finished() {
		return 3
	}
	return 0
}
