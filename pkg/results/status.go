package results

import "runtime/debug"

// Status of a run, in the runs table's status column. (pkg/train produces the same
// strings; a test of the writer checks that the two agree.)
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

// LayerWeights are one dense layer's trained parameters. Field for field the same as
// training's LayerWeights, so that a trained model's weights convert with a plain type
// conversion (results.LayerWeights(w)) and plotting code needs no training package.
type LayerWeights struct {
	Name    string
	In, Out int
	Kernel  []float32 // In×Out, row-major: Kernel[i*Out+j] connects input i to unit j
	Bias    []float32
	// Threshold is a sparse autoencoder's encoder.0 threshold (a jumprelu's θ per
	// latent, a batchtopk's single one); nil otherwise.
	Threshold []float32
}
