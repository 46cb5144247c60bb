package writer

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

// TestRunsWithoutFinalMetricsHaveNullNotZero writes a failed run, a run that diverged
// before its first finite epoch and a completed run, and reads the runs/ rows back:
// the first two have null final metrics. tests/test_missing_metrics.py runs this test
// with SAERUN_MISSING_METRICS_OUT set and reads the same files with pandas.
func TestRunsWithoutFinalMetricsHaveNullNotZero(t *testing.T) {
	dir := os.Getenv("SAERUN_MISSING_METRICS_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	sw, err := OpenSweep(dir, "missing", []byte("name: missing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.RecordFailed(sweep.Run{Index: 0, ID: "failed"}, "disk full", Backend{Name: "go"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id string
		o  results.Outcome
	}{
		{"diverged", results.Outcome{Status: results.StatusDiverged, DivergedAt: 1, CompileSecs: 0.5}},
		{"completed", results.Outcome{Status: results.StatusCompleted, Epochs: 1, CompileSecs: 0.5, Final: []results.Metric{
			{Split: "train", Name: "loss", Value: 0.25}, {Split: "validation", Name: "loss", Value: 0.5},
			{Split: "validation", Name: "reconstruction", Value: math.NaN()}}}},
	} {
		w, err := sw.StartRun(sweep.Run{Index: 1, ID: r.id})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(r.o, Backend{Name: "go"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		RunID          string   `parquet:"run_id"`
		Train          *float64 `parquet:"final_train_loss,optional"`
		Validation     *float64 `parquet:"final_validation_loss,optional"`
		Reconstruction *float64 `parquet:"final_validation_reconstruction,optional"`
		FinalMetrics   string   `parquet:"final_metrics"`
		DivergedEpoch  *int32   `parquet:"diverged_epoch,optional"`
		CompileSeconds *float64 `parquet:"compile_seconds,optional"`
		ResumedFrom    *int32   `parquet:"resumed_from_epoch,optional"`
	}
	for _, id := range []string{"failed", "diverged", "completed"} {
		rows, err := parquet.ReadFile[row](filepath.Join(dir, "missing", results.RunsTable, id+".parquet"))
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %v %v", id, rows, err)
		}
		r := rows[0]
		if (r.DivergedEpoch != nil) != (id == "diverged") || (r.CompileSeconds == nil) != (id == "failed") {
			t.Errorf("%s: diverged_epoch %v, compile_seconds %v: want null where there is none", id, r.DivergedEpoch, r.CompileSeconds)
		}
		if r.ResumedFrom != nil {
			t.Errorf("%s: resumed_from_epoch %d for a run that never resumed, want null", id, *r.ResumedFrom)
		}
		if id != "completed" {
			if r.Train != nil || r.Validation != nil || r.Reconstruction != nil || r.FinalMetrics != "{}" {
				t.Errorf("%s: final metrics %v %v %v %s, want null", id, r.Train, r.Validation, r.Reconstruction, r.FinalMetrics)
			}
			continue
		}
		if r.Train == nil || *r.Train != 0.25 || r.Validation == nil || *r.Validation != 0.5 {
			t.Errorf("completed: final metrics %v %v", r.Train, r.Validation)
		}
		if r.Reconstruction != nil {
			t.Errorf("completed: a NaN final metric is written as %v, want null", *r.Reconstruction)
		}
	}
}
