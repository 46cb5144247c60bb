package backend

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// buildPlugin links an empty shared library at path with the given RPATH (or RUNPATH
// with newDTags), as JAX's CUDA plugin has: the C compiler cgo needs builds it.
func buildPlugin(t *testing.T, path, rpath string, newDTags bool) {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc (cgo's compiler) to build a synthetic ELF")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "empty.c")
	if err := os.WriteFile(src, []byte("int saerun_empty(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dtags := "-Wl,--disable-new-dtags"
	if newDTags {
		dtags = "-Wl,--enable-new-dtags"
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", dtags, "-Wl,-rpath,"+rpath, "-o", path, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
}

// The layout pip makes for jax[cuda13]: site-packages/jax_plugins/xla_cuda13/ holds the
// plugin, site-packages/nvidia/ the libraries, which go-xla does not look for.
const jaxRPATH = "$ORIGIN/../../nvidia/cu13/lib:$ORIGIN/../nvidia/cu13/lib:$ORIGIN/../../nvidia/cudnn/lib:$ORIGIN/../nvidia/cudnn/lib:$ORIGIN/../../tensorrt"

func TestCUDAPluginWarnsOnlyWhenItsRPATHFoldersAreMissing(t *testing.T) {
	for _, runpath := range []bool{false, true} {
		site := t.TempDir()
		plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
		buildPlugin(t, plugin, jaxRPATH, runpath)

		named, missing, err := nvidiaLibraries(plugin)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"cu13/lib", "cudnn/lib"}; !reflect.DeepEqual(named, want) || !reflect.DeepEqual(missing, want) {
			t.Errorf("runpath=%v: named %v missing %v, want both %v", runpath, named, missing, want)
		}
		warning, checked := checkCUDAPlugin(plugin)
		if !checked || strings.Count(warning, "\n") != 0 || !strings.Contains(warning, "nvidia/cu13/lib, nvidia/cudnn/lib") {
			t.Errorf("runpath=%v: missing libraries: warning %q checked %v", runpath, warning, checked)
		}

		// The libraries where the RPATH's $ORIGIN/../../nvidia points: no warning.
		for _, dir := range []string{"nvidia/cu13/lib", "nvidia/cudnn/lib"} {
			if err := os.MkdirAll(filepath.Join(site, dir), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if warning, checked := checkCUDAPlugin(plugin); warning != "" || !checked {
			t.Errorf("runpath=%v: libraries in place: warning %q checked %v", runpath, warning, checked)
		}
	}
}

func TestPluginsWithoutNVIDIAPathsAreLeftToGoXLA(t *testing.T) {
	if warning, checked := checkCUDAPlugin("/x/lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so"); warning != "" || checked {
		t.Errorf("a CPU plugin is not checked: %q %v", warning, checked)
	}
	plugin := filepath.Join(t.TempDir(), "cuda", "pjrt_c_api_cuda_plugin.so")
	buildPlugin(t, plugin, "$ORIGIN/lib", false)
	if warning, checked := checkCUDAPlugin(plugin); warning != "" || checked {
		t.Errorf("a CUDA plugin whose RPATH names no nvidia/ folder keeps go-xla's check: %q %v", warning, checked)
	}
	if cpu, ok := FindPlugin(); ok {
		named, _, err := nvidiaLibraries(cpu)
		if err != nil || len(named) != 0 {
			t.Errorf("the installed CPU plugin %s: named %v, %v", cpu, named, err)
		}
	}
}

func TestGoXLACUDACheckIsOffOnlyWhileLoadingAndOnlyIfUnset(t *testing.T) {
	site := t.TempDir()
	plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	buildPlugin(t, plugin, jaxRPATH, false)
	t.Setenv(goXLACUDAChecksEnv, "")
	os.Unsetenv(goXLACUDAChecksEnv)
	restore := checkCUDALibraries(plugin)
	during := os.Getenv(goXLACUDAChecksEnv)
	restore()
	if _, after := os.LookupEnv(goXLACUDAChecksEnv); during != "0" || after {
		t.Errorf("during load %q, set after: %v", during, after)
	}
	t.Setenv(goXLACUDAChecksEnv, "1")
	restore = checkCUDALibraries(plugin)
	during = os.Getenv(goXLACUDAChecksEnv)
	restore()
	if during != "1" || os.Getenv(goXLACUDAChecksEnv) != "1" {
		t.Errorf("the user's %s=1 was replaced by %q", goXLACUDAChecksEnv, during)
	}
	// A plugin that is not checked (CPU) leaves go-xla's check alone.
	os.Unsetenv(goXLACUDAChecksEnv)
	restore = checkCUDALibraries("/x/lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so")
	if _, set := os.LookupEnv(goXLACUDAChecksEnv); set {
		t.Errorf("%s set for a CPU plugin", goXLACUDAChecksEnv)
	}
	restore()
}
