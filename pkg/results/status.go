package results

import "runtime/debug"

// Status of a run, in the runs table's status column and in Outcome.Status (pkg/train
// names these same constants through aliases).
const (
	StatusCompleted   = "completed"
	StatusDiverged    = "diverged"
	StatusInterrupted = "interrupted"
	StatusFailed      = "failed"
)

// Done reports whether a run with this status needs no re-run on --resume: completed
// and diverged runs are final (a diverged run diverges again); failed and interrupted
// runs are run again.
func Done(status string) bool {
	return status == StatusCompleted || status == StatusDiverged
}

// ToolVersion is recorded in every file; set from the build when it carries a version.
var ToolVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "0.1.0-dev"
}()
