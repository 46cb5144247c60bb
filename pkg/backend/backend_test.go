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
