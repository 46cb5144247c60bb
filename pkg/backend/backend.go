// Package backend opens the GoMLX compute backend a run asks for: "xla" (XLA through a
// PJRT plugin, CPU or GPU), "go" (GoMLX's pure-Go backend, always available) or "auto"
// (XLA when a plugin is installed, else go).
//
// GoMLX's XLA backend would download a plugin from the internet when none is found;
// this package never lets it (auto-install is switched off) and instead looks for a
// plugin installed from PyPI by scripts/setup.sh. The name and plugin of the backend
// used are recorded with every run.
//
// The go backend runs a program's operations one after another (each matrix product
// still spread over the cores): run in parallel, they deadlock gomlx/compute v0.1.2's
// worker pool (see goConfig).
//
// Two things make XLA's training steps cheaper than go-xla alone would: MarkDonors lets
// a step write the new variable values over the old ones, and opening the XLA backend
// tells the C allocator (glibc) to keep large freed blocks for reuse, since XLA's CPU
// runtime allocates a step's scratch memory afresh on every step.
package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

// Names are the accepted values of --backend.
var Names = []string{"auto", "go", "xla"}

// PluginEnv names an explicit PJRT plugin file (absolute path).
const PluginEnv = "SAERUN_XLA_PLUGIN"

// Info says which backend is in use.
type Info struct {
	Name   string // "go" or "xla"
	Detail string // for xla, the plugin file and its package version
	Device Device
}

func (i Info) String() string {
	if i.Detail == "" {
		return i.Name
	}
	return i.Name + " (" + i.Detail + ")"
}

func init() { xla.EnableAutoInstall(false) }

// goConfig opens the go backend with ops_sequential. By default (gomlx/compute v0.1.2,
// v0.1.3) it runs independent operations of a program in parallel, each holding one of
// the worker pool's 2·GOMAXPROCS slots while it runs; a large matrix product then asks
// the same pool for more workers (workerspool.(*Pool).Saturate, from
// internal/gobackend/dot/matmul) and waits for a free slot while holding its own. When
// 2·GOMAXPROCS products start together, every slot is held by a product waiting for a
// slot: the run stops for good at 0% CPU, with no error (an SAE with AuxK on 2 cores: 4
// hangs in 7 runs; a graph of eight independent products: 8 hangs in 8, see
// gopool_test.go). Sequential operations hold no slot, so a product's workers always get
// one; the products themselves still use every core. gopool_test.go fails when an
// upgrade no longer has the deadlock (the setting can go) or drops the setting.
const goConfig = "go:ops_sequential"

// Open returns the backend called name: auto, go, xla, or xla:<plugin path>. An empty
// name means $GOMLX_BACKEND, else auto.
func Open(name string) (compute.Backend, Info, error) {
	if name == "" {
		name = os.Getenv(compute.ConfigEnvVar)
	}
	if name == "" {
		name = "auto"
	}
	kind, arg, _ := strings.Cut(name, ":")
	switch kind {
	case "go":
		b, err := compute.NewWithConfig(goConfig)
		return b, Info{Name: "go", Device: cpuDevice()}, err
	case "xla":
		plugin := arg
		if plugin == "" || plugin == "cpu" {
			found, ok := FindPlugin()
			if !ok {
				return nil, Info{}, fmt.Errorf("backend xla: no PJRT plugin found; run scripts/setup.sh (it installs one from PyPI), " +
					"or set " + PluginEnv + " to a plugin .so, or use --backend go")
			}
			plugin = found
		}
		return openXLA(plugin)
	case "auto":
		if plugin, ok := FindPlugin(); ok {
			b, info, err := openXLA(plugin)
			if err == nil {
				return b, info, nil
			}
			fmt.Fprintf(os.Stderr, "backend auto: XLA plugin %s failed to load (%v); using the go backend\n", plugin, err)
		}
		b, err := compute.NewWithConfig(goConfig)
		return b, Info{Name: "go", Device: cpuDevice()}, err
	}
	return nil, Info{}, fmt.Errorf("unknown backend %q (allowed: %s, or xla:/path/to/plugin.so)", name, strings.Join(Names, ", "))
}

func openXLA(plugin string) (b compute.Backend, info Info, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	abs, err := filepath.Abs(plugin)
	if err != nil {
		return nil, Info{}, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, Info{}, fmt.Errorf("backend xla: plugin %s: %w", abs, err)
	}
	defer checkCUDALibraries(abs)()
	// XLA's CPU runtime allocates each step's scratch area and new variable values with
	// the C allocator; large blocks would otherwise be fresh mmaps, page-faulted on
	// every step (up to 40% of a grouped step's time, measured in bench/README.md).
	if !isBounded() {
		tuneMalloc()
	}
	dev := cpuDevice()
	if !isCPUPlugin(abs) {
		// XLA reads XLA_FLAGS once, when the plugin starts: set before loading it.
		flags, deterministic := deterministicFlags(os.Getenv("XLA_FLAGS"), os.Getenv(DeterminismEnv))
		if err := setXLAFlags(flags); err != nil {
			return nil, Info{}, err
		}
		dev = gpuDevice(filepath.Base(abs))
		dev.Deterministic = deterministic
	}
	b, err = xla.NewWithOptions(abs, clientOptions(abs))
	if err != nil {
		return nil, Info{}, fmt.Errorf("backend xla: loading plugin %s: %w", abs, err)
	}
	return b, Info{Name: "xla", Detail: describePlugin(abs), Device: dev}, nil
}

// clientOptions are the PJRT client options for the plugin at path. A CPU plugin gets
// one device, as JAX's CPU client has by default: the PJRT CPU plugin's default of
// several devices costs ~10% of a training step on a 2-core machine. Other plugins
// (CUDA) get none: they reject options they do not know. Like go-xla, it tells a CPU
// plugin by "cpu" in its file name.
func clientOptions(path string) pjrt.NamedValuesMap {
	if isCPUPlugin(path) {
		return pjrt.NamedValuesMap{"cpu_device_count": int64(1)}
	}
	return nil
}

// describePlugin names the plugin file and, when it came from a Python package, that
// package's version (from its .dist-info folder beside it).
func describePlugin(path string) string {
	pkgDir := filepath.Dir(path)
	site := filepath.Dir(pkgDir)
	matches, _ := filepath.Glob(filepath.Join(site, filepath.Base(pkgDir)+"-*.dist-info"))
	if len(matches) == 1 {
		pkg := strings.TrimSuffix(filepath.Base(matches[0]), ".dist-info")
		return fmt.Sprintf("%s from %s", filepath.Base(path), pkg)
	}
	return path
}

// FindPlugin looks for an installed PJRT CPU plugin: $SAERUN_XLA_PLUGIN, then the
// directories of $PJRT_PLUGIN_LIBRARY_PATH, then the project's virtual environment
// (.venv, found from the working directory upwards, as scripts/setup.sh makes it).
func FindPlugin() (string, bool) {
	if p := os.Getenv(PluginEnv); p != "" {
		return p, fileExists(p)
	}
	for _, dir := range filepath.SplitList(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH")) {
		for _, name := range []string{"pjrt_c_api_cpu_plugin.so", "libpjrt_cpu.so"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				return p, true
			}
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, ".venv", "lib", "python3*", "site-packages",
			"lammps_jax_pjrt_cpu", "pjrt_c_api_cpu_plugin.so"))
		if len(matches) > 0 {
			slices.Sort(matches)
			return matches[len(matches)-1], true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// IsAccelerator reports whether b computes on a GPU (or another non-CPU device).
func IsAccelerator(b compute.Backend) bool {
	x, ok := b.(*xla.Backend)
	return ok && !x.IsCPU()
}

// IsXLA reports whether b is the XLA backend (on any device).
func IsXLA(b compute.Backend) bool {
	_, ok := b.(*xla.Backend)
	return ok
}
