package results

import (
	"io"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Table folder names (Registry declares the tables).
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
	DivergedEpoch                 *int32    `parquet:"diverged_epoch,optional"`     // null unless diverged
	ResumedFromEpoch              *int32    `parquet:"resumed_from_epoch,optional"` // the epochs complete at the checkpoint a resumed run continued from (0: one inside epoch 1); null when it never resumed
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

// Table is one output table of a sweep folder, declared once, in Registry: the
// writer opens and fills a file per run for each, compaction and claims walk the
// list, the size report counts it, and the Python tests read it through
// `go run ./experiments tables`. A new table is a row type and one Registry line here
// (plus a reader method, and training filling the Epoch field it reads).
type Table struct {
	Name string   // the folder under results/<sweep>/
	Doc  string   // one line, for `experiments tables`
	Key  []string // the columns that identify a row, in the order compaction sorts them
	// Optional tables are written only by the runs that record them (weights:
	// record.weights). Every table's file is created at a run's first epoch with rows
	// for it, so a run that records nothing in a table has no file there.
	Optional bool
	rows     epochRows // how an epoch becomes rows; nil for the runs table
}

// Registry lists every table, the runs table last: compaction switches the runs
// table after the others, so that until then the runs it lists are those of the old
// layout.
var Registry = []Table{
	epochTable(MetricsTable, "tidy per-epoch metrics: one row per run, epoch, split and metric",
		[]string{"run_id", "epoch", "split", "metric"}, false, metricRows),
	epochTable(UnitsTable, "per-epoch statistics of each hidden unit over the validation set",
		[]string{"run_id", "epoch", "layer", "unit"}, false, unitRows),
	epochTable(ActivationsTable, "the probe samples' activation vectors (list<float32>)",
		[]string{"run_id", "epoch", "layer", "sample"}, false, activationRows),
	epochTable(ImagesTable, "fixed inputs and their reconstructions; a VAE's generated images",
		[]string{"run_id", "epoch", "kind", "sample"}, false, imageRows),
	epochTable(WeightsTable, "each layer's kernel, bias (and an SAE's threshold) on the epochs record.weights records",
		[]string{"run_id", "epoch", "layer", "kind"}, true, weightRows),
	{Name: RunsTable, Doc: "one row per run: its swept parameters, status, timings, final metrics and resolved config",
		Key: []string{"run_id"}},
}

// Tables are the names of Registry's tables, in its order.
var Tables = func() []string {
	names := make([]string, len(Registry))
	for i, t := range Registry {
		names[i] = t.Name
	}
	return names
}()

// Lookup returns the table called name.
func Lookup(name string) (Table, bool) {
	for _, t := range Registry {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// PerEpoch reports whether the writer streams the table epoch by epoch (every table
// but runs, whose one row per run is written when the run ends).
func (t Table) PerEpoch() bool { return t.rows != nil }

// NewEpochWriter returns a writer of the table's rows into w (nil for the runs
// table). Each Write adds one epoch's rows as one row group, but in the weights
// table, where each row holds a whole matrix, as a row group per row: the writer then
// encodes and compresses one matrix at a time (an SAE's is 8 MiB or more).
func (t Table) NewEpochWriter(w io.Writer, opts ...parquet.WriterOption) EpochWriter {
	if t.rows == nil {
		return nil
	}
	return t.rows.newWriter(w, opts)
}

// EpochWriter streams one run's rows of one table.
type EpochWriter interface {
	// Write converts one epoch of run runID to the table's rows and writes them as a
	// row group (the weights table: a row group per row); it returns how many rows
	// that was (0: nothing written).
	Write(runID string, e *Epoch) (int, error)
	// Close writes the file's footer.
	Close() error
}

type epochRows interface {
	newWriter(w io.Writer, opts []parquet.WriterOption) EpochWriter
	schema() *parquet.Schema
	count(e *Epoch) int
}

// Schema is the schema of the table's files: the columns of its row type. The runs
// table's files have more columns (one per swept parameter).
func (t Table) Schema() *parquet.Schema {
	if t.rows == nil {
		return parquet.SchemaOf(RunInfo{})
	}
	return t.rows.schema()
}

// HasRows reports whether the epoch has rows for the table (always false for runs):
// the writer opens an optional table's file only then.
func (t Table) HasRows(e *Epoch) bool { return t.rows != nil && t.rows.count(e) > 0 }

// Columns are the table's columns (for runs, those every sweep has: each swept
// parameter adds one).
func (t Table) Columns() []string {
	schema := parquet.SchemaOf(new(RunInfo))
	if t.rows != nil {
		schema = t.rows.schema()
	}
	var cols []string
	for _, f := range schema.Fields() {
		cols = append(cols, f.Name())
	}
	return cols
}

// rowsFunc is how an epoch becomes rows of type T.
type rowsFunc[T any] func(runID string, epoch int32, e *Epoch) []T

func (f rowsFunc[T]) newWriter(w io.Writer, opts []parquet.WriterOption) EpochWriter {
	return &genericEpochWriter[T]{w: parquet.NewGenericWriter[T](w, opts...), rows: f}
}

func (f rowsFunc[T]) schema() *parquet.Schema { return parquet.SchemaOf(new(T)) }

func (f rowsFunc[T]) count(e *Epoch) int { return len(f("", 0, e)) }

func epochTable[T any](name, doc string, key []string, optional bool, rows rowsFunc[T]) Table {
	return Table{Name: name, Doc: doc, Key: key, Optional: optional, rows: rows}
}

type genericEpochWriter[T any] struct {
	w    *parquet.GenericWriter[T]
	rows rowsFunc[T]
}

func (g *genericEpochWriter[T]) Write(runID string, e *Epoch) (int, error) {
	rows := g.rows(runID, int32(e.Epoch), e)
	if len(rows) == 0 {
		return 0, nil
	}
	if _, ok := any(rows[0]).(WeightRow); ok { // a matrix a row: one at a time
		for i := range rows {
			if _, err := g.w.Write(rows[i : i+1]); err != nil {
				return 0, err
			}
			if err := g.w.Flush(); err != nil {
				return 0, err
			}
		}
		return len(rows), nil
	}
	if _, err := g.w.Write(rows); err != nil {
		return 0, err
	}
	return len(rows), g.w.Flush()
}

func (g *genericEpochWriter[T]) Close() error { return g.w.Close() }

func metricRows(id string, ep int32, e *Epoch) []MetricRow {
	rows := make([]MetricRow, len(e.Metrics))
	for i, m := range e.Metrics {
		rows[i] = MetricRow{RunID: id, Epoch: ep, Split: m.Split, Metric: m.Name, Value: m.Value, ElapsedSeconds: e.Elapsed}
	}
	return rows
}

func unitRows(id string, ep int32, e *Epoch) []UnitRow {
	rows := make([]UnitRow, len(e.Units))
	for i, u := range e.Units {
		rows[i] = UnitRow{RunID: id, Epoch: ep, Layer: u.Layer, Unit: int32(u.Unit),
			MeanActivation: u.MeanActivation, ActiveFraction: u.ActiveFraction, MaxActivation: u.MaxActivation}
	}
	return rows
}

func activationRows(id string, ep int32, e *Epoch) []ActivationRow {
	var rows []ActivationRow
	for _, a := range e.Activations {
		for i, v := range a.Vectors {
			rows = append(rows, ActivationRow{RunID: id, Epoch: ep, Layer: a.Layer, Sample: int32(i),
				ValidationIndex: int32(a.Index[i]), Label: int32(a.Labels[i]), Activation: v})
		}
	}
	return rows
}

func imageRows(id string, ep int32, e *Epoch) []ImageRow {
	rows := make([]ImageRow, len(e.Images))
	for i, im := range e.Images {
		rows[i] = ImageRow{RunID: id, Epoch: ep, Kind: im.Kind, Sample: int32(im.Sample),
			ValidationIndex: int32(im.Index), Label: int32(im.Label), Input: im.Input, Output: im.Output}
	}
	return rows
}

func weightRows(id string, ep int32, e *Epoch) []WeightRow {
	var rows []WeightRow
	for _, l := range e.Weights {
		rows = append(rows,
			WeightRow{RunID: id, Epoch: ep, Layer: l.Name, Kind: "kernel", Shape: []int32{int32(l.In), int32(l.Out)}, Values: l.Kernel},
			WeightRow{RunID: id, Epoch: ep, Layer: l.Name, Kind: "bias", Shape: []int32{int32(l.Out)}, Values: l.Bias})
		if l.Threshold != nil {
			rows = append(rows, WeightRow{RunID: id, Epoch: ep, Layer: l.Name, Kind: "threshold",
				Shape: []int32{int32(len(l.Threshold))}, Values: l.Threshold})
		}
	}
	return rows
}
