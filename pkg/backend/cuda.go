package backend

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/go-xla/pjrt"
)

// goXLACUDAChecksEnv switches go-xla's own check of a CUDA plugin's libraries. That
// check looks only for an nvidia/ folder beside the plugin's parent folder and prints a
// 12-line warning when there is none, although a JAX CUDA plugin from PyPI finds its
// libraries through its RPATH ($ORIGIN/../../nvidia/...), where pip puts them. saerun
// checks what the RPATH names instead (nvidiaLibraries) and turns go-xla's check off
// while it loads a plugin it has checked, unless the user set the variable.
const goXLACUDAChecksEnv = "GOPJRT_CUDA_CHECKS"

// nvidiaLibraries reads the RPATH and RUNPATH of the ELF file at plugin and returns
// the NVIDIA library folders they name (relative to "nvidia/", e.g. "cu13/lib"), and
// those of them that exist at none of the places named ($ORIGIN expanded). A plugin
// whose paths name no nvidia/ folder (the CPU plugin) returns nothing.
func nvidiaLibraries(plugin string) (named, missing []string, err error) {
	f, err := elf.Open(plugin)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var paths []string
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		values, err := f.DynString(tag)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: reading %v: %w", plugin, tag, err)
		}
		for _, v := range values {
			paths = append(paths, filepath.SplitList(v)...)
		}
	}
	origin := filepath.Dir(plugin)
	found := map[string]bool{}
	for _, p := range paths {
		p = strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin).Replace(p)
		_, rest, ok := strings.Cut(filepath.ToSlash(filepath.Clean(p)), "/nvidia/")
		if !ok {
			continue // not an NVIDIA folder (tensorrt is optional)
		}
		if !slices.Contains(named, rest) {
			named = append(named, rest)
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			found[rest] = true
		}
	}
	for _, n := range named {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	return named, missing, nil
}

// checkCUDAPlugin checks a CUDA plugin's libraries before it is loaded and returns a
// one-line warning when some folder its RPATH names does not exist ("" when all do, or
// for a plugin that is not a CUDA one). ok reports whether the check could be made, in
// which case go-xla's own (misleading) check is not needed.
func checkCUDAPlugin(plugin string) (warning string, ok bool) {
	if !pjrt.IsCUDAName(filepath.Base(plugin)) {
		return "", false
	}
	named, missing, err := nvidiaLibraries(plugin)
	switch {
	case err != nil:
		return fmt.Sprintf("backend xla: cannot read the RPATH of CUDA plugin %s (%v); go-xla checks its libraries instead", plugin, err), false
	case len(named) == 0:
		return "", false // not a JAX-style plugin: leave it to go-xla's check
	case len(missing) > 0:
		return fmt.Sprintf("backend xla: CUDA plugin %s: its RPATH names NVIDIA library folders that do not exist: nvidia/%s "+
			"(install the matching jax[cuda] extra beside it, or put the libraries on LD_LIBRARY_PATH; see docs/xla-plugin.md)",
			plugin, strings.Join(missing, ", nvidia/")), true
	}
	return "", true
}

// checkCUDALibraries checks a CUDA plugin's libraries before it is loaded, prints the
// one-line warning if some are missing, and turns go-xla's own check off until the
// returned function is called (after loading), unless the user set
// GOPJRT_CUDA_CHECKS or go-xla's check would pass: go-xla then finds the nvidia/
// folder it looks for and points XLA_FLAGS at it, which is kept.
func checkCUDALibraries(plugin string) (restore func()) {
	warning, checked := checkCUDAPlugin(plugin)
	if warning != "" {
		fmt.Fprintln(os.Stderr, warning)
	}
	if !checked {
		return func() {}
	}
	if _, set := os.LookupEnv(goXLACUDAChecksEnv); set {
		return func() {}
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(plugin)), "nvidia")); err == nil && st.IsDir() {
		return func() {}
	}
	os.Setenv(goXLACUDAChecksEnv, "0")
	return func() { os.Unsetenv(goXLACUDAChecksEnv) }
}
