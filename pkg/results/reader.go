package results

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Sweep is a sweep's results folder, opened for reading.
type Sweep struct {
	Dir  string
	Spec []byte // spec.yaml as it ran; nil if the folder has none
}

// Open opens the results folder of one sweep (results/<name>), in either layout: one
// file per run, or compacted. It only reads.
func Open(dir string) (*Sweep, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("results: %s is not a folder (expected a sweep's folder, results/<name>)", dir)
	}
	spec, err := os.ReadFile(filepath.Join(dir, "spec.yaml"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("results: %w", err)
	}
	if spec == nil {
		if _, err := os.Stat(tableDir(dir, RunsTable)); err != nil {
			return nil, fmt.Errorf("results: %s holds neither spec.yaml nor runs/: not a sweep's results folder (expected results/<name>)", dir)
		}
	}
	return &Sweep{Dir: dir, Spec: spec}, nil
}

// Filter selects rows. A zero field selects everything; each set field must match.
type Filter struct {
	RunIDs []string // these runs
	Epochs []int    // these epochs
	Split  string   // metrics: "train" or "validation"
	Metric string   // metrics: e.g. "reconstruction", "l0/encoder.0"
	Layer  string   // units and activations: e.g. "encoder.0"
	Kind   string   // reconstructions: "reconstruction" or "generated"
	// LastEpoch keeps, of each run, only the rows of the last epoch among those the
	// other fields select: the units, activations or images a run recorded last (a
	// table recorded every 5 epochs, or a run that diverged, ends before the run's
	// last epoch). Not applied by Runs and Read.
	LastEpoch bool
}

func (f Filter) run(id string) bool { return len(f.RunIDs) == 0 || slices.Contains(f.RunIDs, id) }
func (f Filter) epoch(e int32) bool { return len(f.Epochs) == 0 || slices.Contains(f.Epochs, int(e)) }
func match(want, got string) bool   { return want == "" || want == got }

// Metrics are rows of the metrics table.
type Metrics []MetricRow

// Metrics reads the metrics table: rows sorted by run id, epoch, split and metric.
func (s *Sweep) Metrics(f Filter) (Metrics, error) {
	rows, err := readTable(s.Dir, MetricsTable, f, func(r *MetricRow) bool {
		return f.epoch(r.Epoch) && match(f.Split, r.Split) && match(f.Metric, r.Metric)
	})
	slices.SortStableFunc(rows, func(a, b MetricRow) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Split, b.Split), cmp.Compare(a.Metric, b.Metric))
	})
	if f.LastEpoch {
		rows = lastEpoch(rows, func(r *MetricRow) (string, int32) { return r.RunID, r.Epoch })
	}
	return rows, err
}

// Curve is one metric of one run over its epochs.
type Curve struct {
	Epochs []int
	Values []float64
}

// Curve returns one run's metric (split "validation" or "train") by epoch.
func (m Metrics) Curve(runID, split, metric string) Curve {
	var c Curve
	for _, r := range m {
		if r.RunID == runID && r.Split == split && r.Metric == metric {
			c.Epochs = append(c.Epochs, int(r.Epoch))
			c.Values = append(c.Values, r.Value)
		}
	}
	return c
}

// Final returns each run's metric at the last epoch with a finite value (the last
// epoch before a run diverged). A run without the metric has no entry.
func (m Metrics) Final(split, metric string) map[string]float64 {
	out := map[string]float64{}
	last := map[string]int32{}
	for _, r := range m {
		if r.Split != split || r.Metric != metric || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			continue
		}
		if e, ok := last[r.RunID]; !ok || r.Epoch >= e {
			out[r.RunID], last[r.RunID] = r.Value, r.Epoch
		}
	}
	return out
}

// Units reads the units table, sorted by run id, epoch, layer and unit.
func (s *Sweep) Units(f Filter) ([]UnitRow, error) {
	rows, err := readTable(s.Dir, UnitsTable, f, func(r *UnitRow) bool {
		return f.epoch(r.Epoch) && match(f.Layer, r.Layer)
	})
	slices.SortStableFunc(rows, func(a, b UnitRow) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Unit, b.Unit))
	})
	if f.LastEpoch {
		rows = lastEpoch(rows, func(r *UnitRow) (string, int32) { return r.RunID, r.Epoch })
	}
	return rows, err
}

// Activations reads the activations table, sorted by run id, epoch, layer and sample.
func (s *Sweep) Activations(f Filter) ([]ActivationRow, error) {
	rows, err := readTable(s.Dir, ActivationsTable, f, func(r *ActivationRow) bool {
		return f.epoch(r.Epoch) && match(f.Layer, r.Layer)
	})
	slices.SortStableFunc(rows, func(a, b ActivationRow) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Sample, b.Sample))
	})
	if f.LastEpoch {
		rows = lastEpoch(rows, func(r *ActivationRow) (string, int32) { return r.RunID, r.Epoch })
	}
	return rows, err
}

// Reconstructions reads the reconstructions table, sorted by run id, epoch, kind and sample.
func (s *Sweep) Reconstructions(f Filter) ([]ImageRow, error) {
	rows, err := readTable(s.Dir, ImagesTable, f, func(r *ImageRow) bool {
		return f.epoch(r.Epoch) && match(f.Kind, r.Kind)
	})
	slices.SortStableFunc(rows, func(a, b ImageRow) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Sample, b.Sample))
	})
	if f.LastEpoch {
		rows = lastEpoch(rows, func(r *ImageRow) (string, int32) { return r.RunID, r.Epoch })
	}
	return rows, err
}

// Weights reads the weights table (record.weights), sorted by run id, epoch, layer and
// kind; empty when the sweep recorded none.
func (s *Sweep) Weights(f Filter) ([]WeightRow, error) {
	rows, err := readTable(s.Dir, WeightsTable, f, func(r *WeightRow) bool {
		return f.epoch(r.Epoch) && match(f.Layer, r.Layer) && match(f.Kind, r.Kind)
	})
	slices.SortStableFunc(rows, func(a, b WeightRow) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Kind, b.Kind))
	})
	if f.LastEpoch {
		rows = lastEpoch(rows, func(r *WeightRow) (string, int32) { return r.RunID, r.Epoch })
	}
	return rows, err
}

// Run is one row of the runs table: its fixed columns and its swept parameters.
type Run struct {
	RunInfo
	// Params are the swept parameters by their path in the spec (the columns named
	// "regularizers.0.weight" and so on): float64 for numbers, else string.
	Params map[string]any
}

// Param returns a swept parameter's value as a number.
func (r Run) Param(path string) (float64, bool) {
	v, ok := r.Params[path].(float64)
	return v, ok
}

// Final returns one of the run's final metrics ("validation/reconstruction",
// "validation/l0/encoder.0", …: split/metric), from its final_metrics column: the
// last epoch before the run ended or diverged. ok is false when the run has none.
func (r Run) Final(key string) (v float64, ok bool) {
	var m map[string]*float64
	if json.Unmarshal([]byte(r.FinalMetrics), &m) != nil || m[key] == nil {
		return 0, false
	}
	return *m[key], true
}

// Runs are rows of the runs table.
type Runs []Run

// Runs reads the runs table, sorted by run index.
func (s *Sweep) Runs(f Filter) (Runs, error) {
	var out Runs
	files, err := tableFiles(s.Dir, RunsTable, f)
	if err != nil {
		return nil, err
	}
	fixed := map[string]bool{}
	for _, c := range parquet.SchemaOf(RunInfo{}).Columns() {
		fixed[c[0]] = true
	}
	for _, path := range files {
		infos, err := readFile(path, rowSchema(RunsTable), Filter{}, func(*RunInfo) bool { return true }, nil)
		if err != nil {
			return nil, fmt.Errorf("results: read %s: %w", path, err)
		}
		params, err := readParams(path, fixed)
		if err != nil {
			return nil, err
		}
		if len(params) != len(infos) {
			return nil, fmt.Errorf("results: read %s: %d rows of parameters for %d runs", path, len(params), len(infos))
		}
		for i, info := range infos {
			if f.run(info.RunID) {
				out = append(out, Run{RunInfo: info, Params: params[i]})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Run) int {
		return cmp.Or(cmp.Compare(a.RunIndex, b.RunIndex), cmp.Compare(a.RunID, b.RunID))
	})
	return out, nil
}

// ParamNames returns the swept parameters' paths, sorted.
func (rs Runs) ParamNames() []string {
	set := map[string]bool{}
	for _, r := range rs {
		for k := range r.Params {
			set[k] = true
		}
	}
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// IDs returns the runs' ids in order.
func (rs Runs) IDs() []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.RunID
	}
	return ids
}

// readParams reads the columns of a runs file that are not RunInfo's: the swept
// parameters, one map per row.
func readParams(path string, fixed map[string]bool) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("results: read %s: %w", path, err)
	}
	names := map[int]string{}
	for _, c := range pf.Schema().Columns() {
		if len(c) == 1 && !fixed[c[0]] {
			leaf, _ := pf.Schema().Lookup(c...)
			names[leaf.ColumnIndex] = c[0]
		}
	}
	var out []map[string]any
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]any{}
				for _, v := range row {
					name, ok := names[v.Column()]
					if !ok || v.IsNull() {
						continue
					}
					switch v.Kind() {
					case parquet.Double:
						m[name] = v.Double()
					case parquet.Float:
						m[name] = float64(v.Float())
					case parquet.Int32:
						m[name] = float64(v.Int32())
					case parquet.Int64:
						m[name] = float64(v.Int64())
					case parquet.Boolean:
						m[name] = fmt.Sprint(v.Boolean())
					default:
						m[name] = string(v.ByteArray())
					}
				}
				out = append(out, m)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("results: read %s: %w", path, err)
			}
		}
		rows.Close()
	}
	return out, nil
}

// Statuses returns the recorded status of every run that has a row in the runs table.
func (s *Sweep) Statuses() (map[string]string, error) { return ReadStatuses(s.Dir) }

// ReadStatuses returns the status of every run of the sweep folder dir that has a row
// in its runs table (either layout; an empty map when there is none yet).
func ReadStatuses(dir string) (map[string]string, error) { return readStatuses(dir, Filter{}) }

// readStatuses is ReadStatuses for the runs f selects (and every run of a compacted part).
func readStatuses(dir string, f Filter) (map[string]string, error) {
	files, err := tableFiles(dir, RunsTable, f)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, path := range files {
		rows, _, err := readStatusFile(path)
		if err == nil && len(rows) == 0 {
			err = errors.New("no rows")
		}
		if err != nil {
			if !strings.HasPrefix(filepath.Base(path), partPrefix) {
				// A damaged per-run file: the run is not recorded, and --resume runs it
				// again (Verify reports the file).
				continue
			}
			return nil, fmt.Errorf("results: read %s: %w", path, err)
		}
		for _, r := range rows {
			out[r.RunID] = r.Status
		}
	}
	return out, nil
}

// partPrefix starts the names of compacted files; run ids are hexadecimal, so a
// per-run file never starts with it.
const partPrefix = "part-"

// tableDir is where a table's files are: its folder, or during the instant of a
// compaction's two-rename switch (file systems without RENAME_EXCHANGE) the new folder
// already complete.
func tableDir(dir, table string) string {
	p := filepath.Join(dir, table)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, compactDir, table+readySuffix)); err == nil {
			return filepath.Join(dir, compactDir, table+newSuffix)
		}
	}
	return p
}

// IsParquetFile reports whether a file called name in a table folder holds the table's
// rows: a .parquet file whose name does not start with "." or "_" (files being written,
// and the markers other tools leave, do).
func IsParquetFile(name string) bool {
	return strings.HasSuffix(name, ".parquet") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// tableFiles lists a table's Parquet files: per-run files (of the runs f selects) and
// compacted parts, in name order. A table not written (yet) has none. In every table
// but runs, the per-run files of runs that failed are left out: they are not that
// run's results (a failed run's files are removed when it is recorded, but a folder
// written by an older version may still hold some). The files of runs not recorded
// yet are read: the finished epochs of runs being trained (live tables). A file of no
// recorded run that is not a file of the table at all is an error naming it.
func tableFiles(dir, table string, f Filter) ([]string, error) {
	d := tableDir(dir, table)
	entries, err := os.ReadDir(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var files []string
	var statuses map[string]string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !IsParquetFile(name) {
			continue
		}
		if !strings.HasPrefix(name, partPrefix) {
			id := strings.TrimSuffix(name, ".parquet")
			if !f.run(id) {
				continue
			}
			if table != RunsTable {
				if statuses == nil {
					if statuses, err = readStatuses(dir, f); err != nil {
						return nil, err
					}
				}
				st := statuses[id]
				if st == StatusFailed {
					continue
				}
				if st == "" {
					// A run being trained: its finished epochs (the writer replaces the
					// file whole as epochs end). Or left by a killed process, until a
					// runner or compaction removes it. A file that is not this table's
					// at all is refused, not passed over in silence.
					p := filepath.Join(d, name)
					file, pf, err := openChecked(p, rowSchema(table))
					if errors.Is(err, fs.ErrNotExist) {
						continue // removed meanwhile: the run failed or was cleaned up
					}
					if err != nil {
						return nil, fmt.Errorf("results: read %s: %w (and no run of this sweep is called %s)", p, err, id)
					}
					owner, _ := pf.Lookup("run_id")
					file.Close()
					if owner != id {
						// Not written for this run by the writer (a copy of another
						// run's file): not the rows of a run being trained.
						continue
					}
				}
			}
		}
		files = append(files, filepath.Join(d, name))
	}
	return files, nil
}

// readTable reads the rows of one table that keep accepts, among the runs f selects.
// In compacted files, row groups whose run ids all lie outside f are skipped unread.
func readTable[T any](dir, table string, f Filter, keep func(*T) bool) ([]T, error) {
	files, err := tableFiles(dir, table, f)
	if err != nil {
		return nil, err
	}
	var out []T
	want := rowSchema(table)
	for _, path := range files {
		n := len(out)
		if out, err = readFile(path, want, f, keep, out); err != nil {
			if errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(filepath.Base(path), partPrefix) {
				// A run's file removed since the folder was listed (its run failed, or a
				// runner starting cleaned up after a killed one): no rows of it.
				out = out[:n]
				continue
			}
			return nil, fmt.Errorf("results: read %s: %w", path, err)
		}
	}
	return out, nil
}

// readFile appends the rows of one file that keep accepts, among the runs f selects,
// after checking that the file has the columns of want (checkSchema): a foreign file
// is refused, never read as zeros.
func readFile[T any](path string, want *parquet.Schema, f Filter, keep func(*T) bool, out []T) ([]T, error) {
	file, pf, err := openChecked(path, want)
	if err != nil {
		return out, err
	}
	defer file.Close()
	runCol := -1
	if leaf, ok := pf.Schema().Lookup("run_id"); ok {
		runCol = leaf.ColumnIndex
	}
	idField := runIDField[T]()
	if len(f.RunIDs) > 0 && idField < 0 {
		return out, fmt.Errorf("row type %T has no RunID field to select runs by", *new(T))
	}
	buf := make([]T, 256)
	for _, rg := range pf.RowGroups() {
		if runCol >= 0 && len(f.RunIDs) > 0 && !mayHoldRuns(rg.ColumnChunks()[runCol], f.RunIDs) {
			continue
		}
		r := parquet.NewGenericRowGroupReader[T](rg)
		for {
			n, err := r.Read(buf)
			for i := range buf[:n] {
				if keep(&buf[i]) && (len(f.RunIDs) == 0 || f.run(reflect.ValueOf(&buf[i]).Elem().Field(idField).String())) {
					out = append(out, buf[i])
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return out, err
			}
		}
		r.Close()
	}
	return out, nil
}

// mayHoldRuns reports whether a run_id column chunk's min/max statistics admit one of ids.
func mayHoldRuns(c parquet.ColumnChunk, ids []string) bool {
	fc, ok := c.(*parquet.FileColumnChunk)
	if !ok {
		return true
	}
	lo, hi, ok := fc.Bounds()
	if !ok {
		return true
	}
	for _, id := range ids {
		if id >= string(lo.ByteArray()) && id <= string(hi.ByteArray()) {
			return true
		}
	}
	return false
}

// Read reads any table of Registry as rows of type T: the table's row type, or a
// struct of a subset of its columns (parquet tags). Only f's RunIDs and Epochs apply
// (the latter when T has an Epoch field); rows come in file order. A new table needs
// no reader of its own.
func Read[T any](s *Sweep, table string, f Filter) ([]T, error) {
	if _, ok := Lookup(table); !ok {
		return nil, fmt.Errorf("results: no table %q (the tables are %s)", table, strings.Join(Tables, ", "))
	}
	epoch := -1
	if e, ok := reflect.TypeFor[T]().FieldByName("Epoch"); ok && len(e.Index) == 1 && e.Type.Kind() == reflect.Int32 {
		epoch = e.Index[0]
	}
	return readTable(s.Dir, table, f, func(r *T) bool {
		return epoch < 0 || f.epoch(int32(reflect.ValueOf(r).Elem().Field(epoch).Int()))
	})
}

// runIDField is the index of the RunID string field of row type T, which every
// table's row type has (a test checks the registry's); -1 if it has none.
func runIDField[T any]() int {
	if f, ok := reflect.TypeFor[T]().FieldByName("RunID"); ok && len(f.Index) == 1 && f.Type.Kind() == reflect.String {
		return f.Index[0]
	}
	return -1
}
