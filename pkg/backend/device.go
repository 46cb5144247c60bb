package backend

import (
	"github.com/gomlx/compute"

	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Device describes what a backend computes on, for the runs table and for the
// scheduler's group sizes.
type Device struct {
	Accelerator bool   // a GPU (or another non-CPU device)
	Name        string // "NVIDIA H200", or the CPU's model name
	MemoryBytes int64  // a GPU's memory; 0 when unknown or a CPU
	FreeBytes   int64  // a GPU's free memory when the backend opened; 0 when unknown
	// Deterministic says whether XLA was told to use deterministic GPU kernels (see
	// DeterminismEnv). Always true on a CPU, whose kernels are deterministic.
	Deterministic bool
}

func (d Device) String() string {
	s := d.Name
	if d.MemoryBytes > 0 {
		s += fmt.Sprintf(", %.0f GiB", float64(d.MemoryBytes)/(1<<30))
	}
	if d.Accelerator && !d.Deterministic {
		s += ", non-deterministic kernels"
	}
	return s
}

// cpuDevice describes this machine's CPU.
func cpuDevice() Device {
	name := runtime.GOARCH + " CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return Device{Name: fmt.Sprintf("%s (%d threads)", name, runtime.NumCPU()), Deterministic: true}
}

// gpuDevice asks nvidia-smi for the first GPU's name and memory. Without nvidia-smi
// the name is the plugin's platform and the memory unknown (the scheduler then
// assumes a modest budget).
func gpuDevice(fallbackName string) Device {
	d := Device{Accelerator: true, Name: fallbackName}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nvidia-smi", "--query-gpu=name,memory.total,memory.free",
		"--format=csv,noheader,nounits").Output()
	if err != nil {
		return d
	}
	if dd, ok := parseNvidiaSMI(string(out)); ok {
		dd.Accelerator = true
		return dd
	}
	return d
}

// parseNvidiaSMI reads the first line of
// `nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits`
// (memory in MiB).
func parseNvidiaSMI(out string) (Device, bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Split(line, ",")
	if len(f) != 3 {
		return Device{}, false
	}
	total, err1 := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
	free, err2 := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
	if err1 != nil || err2 != nil {
		return Device{}, false
	}
	return Device{Name: strings.TrimSpace(f[0]), MemoryBytes: total << 20, FreeBytes: free << 20}, true
}

// DeterminismEnv, set to 0, lets XLA use its faster non-deterministic GPU kernels
// (atomics in reductions and scatter). By default a GPU plugin is opened with
// XLA_FLAGS=--xla_gpu_exclude_nondeterministic_ops=true: reruns are then bit-identical,
// as on the CPU. Measured on an H200 (../shared/notes/gpu.md): same speed, and no
// autotuning at start.
const DeterminismEnv = "SAERUN_GPU_DETERMINISTIC"

const gpuDeterminismFlag = "--xla_gpu_exclude_nondeterministic_ops=true"

// deterministicFlags returns the XLA_FLAGS value to open a GPU plugin with, and whether
// its kernels will be deterministic. A determinism flag the user already put in
// XLA_FLAGS is kept as written.
func deterministicFlags(xlaFlags, optOut string) (string, bool) {
	for _, f := range strings.Fields(xlaFlags) {
		name, value, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if name == "xla_gpu_exclude_nondeterministic_ops" || name == "xla_gpu_deterministic_ops" {
			return xlaFlags, value == "" || value == "true" || value == "1"
		}
	}
	if optOut == "0" || strings.EqualFold(optOut, "false") {
		return xlaFlags, false
	}
	return strings.TrimSpace(xlaFlags + " " + gpuDeterminismFlag), true
}

// isCPUPlugin tells a CPU plugin by "cpu" in its file name, as go-xla does.
func isCPUPlugin(path string) bool {
	return strings.Contains(strings.ToLower(filepath.Base(path)), "cpu")
}

// setXLAFlags sets XLA_FLAGS for the plugin about to be loaded. With cgo, os.Setenv
// also sets the C environment, where XLA reads it.
func setXLAFlags(flags string) error { return os.Setenv("XLA_FLAGS", flags) }

// DeviceOf describes the device of a backend opened elsewhere (a notebook's, say). A
// GPU's kernels count as deterministic when XLA_FLAGS asks for it.
func DeviceOf(b compute.Backend) Device {
	if !IsAccelerator(b) {
		return cpuDevice()
	}
	d := gpuDevice(b.Name())
	_, d.Deterministic = deterministicFlags(os.Getenv("XLA_FLAGS"), "0")
	return d
}
