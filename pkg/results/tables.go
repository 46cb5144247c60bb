package results

import "time"

// Table folder names.
const (
	RunsTable        = "runs"
	MetricsTable     = "metrics"
	UnitsTable       = "units"
	ActivationsTable = "activations"
	ImagesTable      = "reconstructions"
	WeightsTable     = "weights"
)

// MetricRow is one metric of one epoch (tidy long format).
type MetricRow struct {
	RunID          string  `parquet:"run_id,dict"`
	Epoch          int32   `parquet:"epoch"`
	Split          string  `parquet:"split,dict"`
	Metric         string  `parquet:"metric,dict"`
	Value          float64 `parquet:"value"`
	ElapsedSeconds float64 `parquet:"elapsed_seconds"`
}

// UnitRow is one hidden unit's statistics over the validation set at one epoch.
type UnitRow struct {
	RunID          string  `parquet:"run_id,dict"`
	Epoch          int32   `parquet:"epoch"`
	Layer          string  `parquet:"layer,dict"`
	Unit           int32   `parquet:"unit"`
	MeanActivation float64 `parquet:"mean_activation"`
	ActiveFraction float64 `parquet:"active_fraction"`
	MaxActivation  float64 `parquet:"max_activation"`
}

// ActivationRow is one probe sample's activation vector at one epoch.
type ActivationRow struct {
	RunID           string    `parquet:"run_id,dict"`
	Epoch           int32     `parquet:"epoch"`
	Layer           string    `parquet:"layer,dict"`
	Sample          int32     `parquet:"sample"`
	ValidationIndex int32     `parquet:"validation_index"`
	Label           int32     `parquet:"label"`
	Activation      []float32 `parquet:"activation,list"`
}

// ImageRow is an input and its reconstruction (kind "reconstruction"), or a VAE's
// decoding of a fixed prior draw (kind "generated": no input, index and label -1).
type ImageRow struct {
	RunID           string    `parquet:"run_id,dict"`
	Epoch           int32     `parquet:"epoch"`
	Kind            string    `parquet:"kind,dict"`
	Sample          int32     `parquet:"sample"`
	ValidationIndex int32     `parquet:"validation_index"`
	Label           int32     `parquet:"label"`
	Input           []float32 `parquet:"input,list"`
	Output          []float32 `parquet:"output,list"`
}

// WeightRow is one layer's kernel or bias after one epoch (record.weights). A kernel's
// values are in×out row-major (values[i*out+j] connects input i to unit j), its shape
// [in, out]; a bias has shape [out].
type WeightRow struct {
	RunID  string    `parquet:"run_id,dict"`
	Epoch  int32     `parquet:"epoch"`
	Layer  string    `parquet:"layer,dict"`
	Kind   string    `parquet:"kind,dict"` // "kernel", "bias", or an SAE's "threshold" (encoder.0)
	Shape  []int32   `parquet:"shape,list"`
	Values []float32 `parquet:"values,list"`
}

// RunInfo is the runs/ row of one run, less its swept parameters (which become
// columns of their own, named by their dotted path). The final metrics are null when
// the run has none (failed, or diverged before its first finite epoch): NaN in pandas,
// null in polars and DuckDB, never a 0 that would look like the best run. Likewise
// diverged_epoch is null for a run that did not diverge, and compile_seconds for a run
// that compiled nothing.
type RunInfo struct {
	RunID                         string    `parquet:"run_id"`
	Sweep                         string    `parquet:"sweep"`
	RunIndex                      int32     `parquet:"run_index"`
	Seed                          int64     `parquet:"seed"`
	Status                        string    `parquet:"status"`
	Message                       string    `parquet:"message"`
	Backend                       string    `parquet:"backend"`
	BackendDetail                 string    `parquet:"backend_detail"`
	Device                        string    `parquet:"device"`        // "NVIDIA H200, 140 GiB", or the CPU's model
	Deterministic                 bool      `parquet:"deterministic"` // false only for a GPU run with non-deterministic kernels allowed
	GroupSize                     int32     `parquet:"group_size"`
	EpochsCompleted               int32     `parquet:"epochs_completed"`
	DivergedEpoch                 *int32    `parquet:"diverged_epoch,optional"` // null unless diverged
	StartTime                     time.Time `parquet:"start_time,timestamp(microsecond)"`
	EndTime                       time.Time `parquet:"end_time,timestamp(microsecond)"`
	WallSeconds                   float64   `parquet:"wall_seconds"`
	CompileSeconds                *float64  `parquet:"compile_seconds,optional"` // null when nothing was compiled (a failed run)
	InputScale                    *float64  `parquet:"input_scale,optional"`     // an SAE's input factor c (1 without normalize); null for other models
	FinalTrainLoss                *float64  `parquet:"final_train_loss,optional"`
	FinalValidationLoss           *float64  `parquet:"final_validation_loss,optional"`
	FinalValidationReconstruction *float64  `parquet:"final_validation_reconstruction,optional"`
	FinalMetrics                  string    `parquet:"final_metrics"` // JSON {"validation/l0/encoder.0": …}
	Config                        string    `parquet:"config"`        // resolved spec as JSON
	SpecHash                      string    `parquet:"spec_hash"`
	ToolVersion                   string    `parquet:"tool_version"`
}
