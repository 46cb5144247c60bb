package backend

import "os"

// RequireXLAEnv names the variable that makes XLA mandatory for the tests: with
// SAERUN_REQUIRE_XLA=1 (set by .ci/run) a test that needs the XLA plugin fails where
// it would otherwise skip, so CI cannot pass without exercising XLA.
const RequireXLAEnv = "SAERUN_REQUIRE_XLA"

// XLARequired reports whether $SAERUN_REQUIRE_XLA is 1.
func XLARequired() bool { return os.Getenv(RequireXLAEnv) == "1" }

// TB is the part of testing.TB that SkipWithoutXLA uses (so that this package does
// not import testing).
type TB interface {
	Helper()
	Skip(args ...any)
	Fatalf(format string, args ...any)
}

// SkipWithoutXLA returns the installed PJRT plugin's path. Without one it skips t, or
// fails it when XLARequired. Every test that needs XLA starts with it.
func SkipWithoutXLA(t TB) string {
	t.Helper()
	plugin, ok := FindPlugin()
	if ok {
		return plugin
	}
	if XLARequired() {
		t.Fatalf("no XLA PJRT plugin found and %s=1: the XLA tests must run (scripts/setup.sh installs the plugin)", RequireXLAEnv)
	}
	t.Skip("no XLA PJRT plugin installed (run scripts/setup.sh; " + RequireXLAEnv + "=1 makes this a failure)")
	return ""
}
