// Command profile runs a spec exactly like ./experiments but under the Go CPU profiler, to see
// where saerun spends its time (bench/README.md, "Where the time goes"):
//
//	go run ./bench/profile --backend go --cpuprofile /tmp/go.prof bench/specs/fmnist_l1.yaml
//	go tool pprof -top -nodecount=40 /tmp/go.prof
//
// --backend-config passes a GoMLX backend configuration the CLI does not expose, e.g.
// go:ops_parallel or go:parallelism=4. Build with GOEXPERIMENT=simd for the AVX kernels.
//
// -v=1 logs each XLA compilation and its time; -v=2 also prints the StableHLO programs.
//
// Run it from the repository root (the XLA plugin is found from there).
//
// Every run starts from an empty --out: the command empties a folder it created itself
// (it leaves a .saerun-profile marker there) and refuses any other non-empty folder,
// so a mistyped --out never deletes someone's results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"k8s.io/klog/v2"

	"github.com/sparselab/saerun/pkg/runner"
)

func main() {
	var opts runner.Options
	cpu := flag.String("cpuprofile", "cpu.prof", "CPU profile output file")
	flag.StringVar(&opts.Out, "out", os.TempDir()+"/saerun-profile", "results root folder")
	flag.StringVar(&opts.Backend, "backend", "go", "go or xla")
	config := flag.String("backend-config", "", "GoMLX backend configuration passed as is to compute.NewWithConfig, e.g. go:ops_parallel (overrides --backend)")
	klog.InitFlags(nil) // -v=1 logs XLA compile times, -v=2 dumps the StableHLO programs
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: profile [--backend go|xla] [--cpuprofile FILE] [--out DIR] SPEC.yaml")
		os.Exit(2)
	}
	if err := prepareOut(opts.Out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *config != "" {
		b, err := compute.NewWithConfig(*config)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opts.BackendObj = b
	}
	f, err := os.Create(*cpu)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sum, err := runner.RunFile(context.Background(), flag.Arg(0), opts)
	pprof.StopCPUProfile()
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "done in %.1fs; profile in %s\n", sum.Wall.Seconds(), *cpu)
}

// marker names the file that says a folder was made by this command.
const marker = ".saerun-profile"

// prepareOut leaves dir existing and empty but for the marker: it creates a missing
// folder, marks an empty one, empties one that carries the marker, and refuses any
// other non-empty folder without touching it.
func prepareOut(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("--out %s: %w", dir, err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("--out %s is not empty and was not created by bench/profile (no %s in it): "+
				"give a new or empty folder; nothing was deleted", dir, marker)
		}
		for _, e := range entries {
			if e.Name() == marker {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("made by bench/profile; emptied by its next run\n"), 0o644)
}
