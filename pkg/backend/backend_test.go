package backend

import (
	"strings"
	"testing"
)

func TestGoBackendAlwaysOpens(t *testing.T) {
	b, info, err := Open("go")
	if err != nil || info.Name != "go" || b == nil {
		t.Fatalf("%v %+v %v", err, info, b)
	}
}

func TestUnknownBackendListsTheAllowedOnes(t *testing.T) {
	_, _, err := Open("tpu")
	if err == nil || !strings.Contains(err.Error(), "auto, go, xla") {
		t.Errorf("got %v", err)
	}
}

func TestXLAWithAMissingPluginSaysWhatToDo(t *testing.T) {
	_, _, err := Open("xla:/nonexistent/pjrt_c_api_cpu_plugin.so")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/pjrt_c_api_cpu_plugin.so") {
		t.Errorf("got %v", err)
	}
	t.Setenv(PluginEnv, "/nonexistent/plugin.so")
	if _, _, err := Open("xla"); err == nil || !strings.Contains(err.Error(), "setup.sh") {
		t.Errorf("got %v", err)
	}
}

func TestAutoFallsBackToGoWithoutAPlugin(t *testing.T) {
	t.Setenv(PluginEnv, "/nonexistent/plugin.so")
	_, info, err := Open("auto")
	if err != nil || info.Name != "go" {
		t.Errorf("%v %+v", err, info)
	}
}

// A CUDA plugin refuses PJRT_Client_Create options it does not know ("Unexpected option
// name passed to PJRT_Client_Create: cpu_device_count", seen with jax-cuda13-pjrt 0.11.2).
func TestOnlyCPUPluginsGetTheCPUDeviceCountOption(t *testing.T) {
	cpu := clientOptions("/x/lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so")
	if cpu["cpu_device_count"] != int64(1) {
		t.Errorf("CPU plugin options %v; want cpu_device_count 1", cpu)
	}
	if o := clientOptions("/x/jax_plugins/xla_cuda13/xla_cuda_plugin.so"); len(o) != 0 {
		t.Errorf("CUDA plugin options %v; want none", o)
	}
}

// fakeTB records what SkipWithoutXLA does to a test.
type fakeTB struct{ skipped, failed bool }

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skip(...any)           { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestSkipWithoutXLAFailsInsteadWhenXLAIsRequired(t *testing.T) {
	t.Setenv(PluginEnv, "/nonexistent/plugin.so")
	t.Setenv(RequireXLAEnv, "")
	var f fakeTB
	SkipWithoutXLA(&f)
	if !f.skipped || f.failed {
		t.Errorf("without %s: %+v, want a skip", RequireXLAEnv, f)
	}
	t.Setenv(RequireXLAEnv, "1")
	f = fakeTB{}
	SkipWithoutXLA(&f)
	if !f.failed {
		t.Errorf("with %s=1: %+v, want a failure", RequireXLAEnv, f)
	}
}
