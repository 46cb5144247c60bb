package backend

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
)

func TestGPUPluginsAreDeterministicUnlessTheUserSaysOtherwise(t *testing.T) {
	cases := []struct {
		flags, optOut, want string
		deterministic       bool
	}{
		{"", "", gpuDeterminismFlag, true},
		{"--xla_dump_to=/tmp/d", "", "--xla_dump_to=/tmp/d " + gpuDeterminismFlag, true},
		{"", "0", "", false},
		{"", "false", "", false},
		{"--xla_gpu_deterministic_ops=true", "", "--xla_gpu_deterministic_ops=true", true},
		{"--xla_gpu_exclude_nondeterministic_ops=false", "", "--xla_gpu_exclude_nondeterministic_ops=false", false},
	}
	for _, c := range cases {
		got, det := deterministicFlags(c.flags, c.optOut)
		if got != c.want || det != c.deterministic {
			t.Errorf("deterministicFlags(%q, %q) = %q, %v; want %q, %v", c.flags, c.optOut, got, det, c.want, c.deterministic)
		}
	}
}

func TestNvidiaSMIOutputGivesNameAndMemory(t *testing.T) {
	d, ok := parseNvidiaSMI("NVIDIA H200, 143771, 142500\n")
	if !ok || d.Name != "NVIDIA H200" || d.MemoryBytes != 143771<<20 || d.FreeBytes != 142500<<20 {
		t.Errorf("got %+v, %v", d, ok)
	}
	if _, ok := parseNvidiaSMI("No devices were found"); ok {
		t.Error("parsed a line without memory figures")
	}
}

const childFlagsEnv = "SAERUN_TEST_XLA_FLAGS_CHILD"

// The XLA_FLAGS that openXLA sets for a GPU plugin reach XLA: a child process sets
// flags the same way and compiles a program on the CPU plugin. With an unknown flag
// XLA aborts, which proves it read them; with the GPU determinism flag (which XLA's
// CPU build knows too) it runs. Skipped without a plugin.
func TestXLAFlagsSetByTheBackendReachXLA(t *testing.T) {
	if flags, ok := os.LookupEnv(childFlagsEnv); ok {
		if err := setXLAFlags(flags); err != nil {
			t.Fatal(err)
		}
		b, _, err := Open("xla")
		if err != nil {
			t.Fatal(err)
		}
		out := MustExecOnce(b, func(x *Node) *Node { return AddScalar(x, 1) }, float32(1))
		if out.Value().(float32) != 2 {
			t.Fatalf("1+1 = %v", out.Value())
		}
		return
	}
	SkipWithoutXLA(t)
	run := func(flags string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestXLAFlagsSetByTheBackendReachXLA$", "-test.count=1")
		cmd.Env = append(os.Environ(), childFlagsEnv+"="+flags)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("--xla_saerun_no_such_flag=true"); err == nil || !strings.Contains(out, "xla_saerun_no_such_flag") {
		t.Errorf("an unknown flag should abort XLA naming it; err %v, output:\n%s", err, out)
	}
	if out, err := run(gpuDeterminismFlag); err != nil {
		t.Errorf("with %s: %v\n%s", gpuDeterminismFlag, err, out)
	}
}
