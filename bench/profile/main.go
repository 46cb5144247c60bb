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
// --memprofile FILE writes a Go heap profile each time the Go heap reaches a new peak
// (checked every 20 ms, written when it grows by 5 %), so FILE ends as the profile of
// the largest heap the run had: `go tool pprof -sample_index=inuse_space -top FILE`.
// --set KEY=VALUE overrides a spec key, as for ./experiments.
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
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"

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
	mem := flag.String("memprofile", "", "write the Go heap profile at the heap's peak to this file")
	flag.Func("set", "KEY=VALUE: override a spec key (repeatable)", func(v string) error {
		opts.Set = append(opts.Set, v)
		return nil
	})
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
	var stopHeap func() uint64
	if *mem != "" {
		stopHeap = heapPeaks(*mem)
	}
	sum, err := runner.RunFile(context.Background(), flag.Arg(0), opts)
	pprof.StopCPUProfile()
	f.Close()
	if stopHeap != nil {
		fmt.Fprintf(os.Stderr, "Go heap peak %d MiB; its profile in %s\n", stopHeap()>>20, *mem)
	}
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

// heapPeaks samples the Go heap (runtime/metrics: the bytes of live and not yet swept
// objects) every 20 ms and, whenever it exceeds the last profiled peak by 5 %, writes a
// heap profile to path (its inuse_space is as of the last completed GC). stop ends
// the sampling and returns the peak seen.
func heapPeaks(path string) (stop func() uint64) {
	runtime.MemProfileRate = 64 << 10
	done, ended := make(chan struct{}), make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak, profiled uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				ended <- peak
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			h := sample[0].Value.Uint64()
			peak = max(peak, h)
			if h > profiled+profiled/20 {
				profiled = h
				if f, err := os.Create(path); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	return func() uint64 { close(done); return <-ended }
}
