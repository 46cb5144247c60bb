package writer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

// ToolVersion is recorded in every file.
var ToolVersion = results.ToolVersion

// Sweep is one sweep's results folder.
type Sweep struct {
	Dir      string
	Name     string
	SpecHash string

	mu     sync.Mutex
	opened time.Time     // when OpenSweep opened it
	flush  time.Duration // time its runs' flushes took, all together
}

// ErrSpecChanged is returned by OpenSweep when the folder holds a different spec.
var ErrSpecChanged = errors.New("results folder holds a different spec")

// OpenSweep creates (or reopens) out/name and writes spec.yaml, the spec exactly as it
// ran. A folder that already holds a different spec is refused: its results would no
// longer match their spec. (A spec that differs only in comments or layout is the same
// spec; the first one written is kept.)
func OpenSweep(out, name string, specData []byte) (*Sweep, error) {
	dir := filepath.Join(out, name)
	sum := sha256.Sum256(specData)
	s := &Sweep{Dir: dir, Name: name, SpecHash: hex.EncodeToString(sum[:]), opened: time.Now()}
	exists, err := checkSpec(dir, specData)
	if err != nil {
		return nil, err
	}
	if exists {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	return s, WriteFileAtomic(filepath.Join(dir, "spec.yaml"), specData)
}

// CheckSpec is OpenSweep's check alone, writing nothing: an error wrapping
// ErrSpecChanged when out/name holds a different spec.
func CheckSpec(out, name string, specData []byte) error {
	_, err := checkSpec(filepath.Join(out, name), specData)
	return err
}

// checkSpec reports whether dir holds a spec.yaml, and refuses one that differs from
// specData.
func checkSpec(dir string, specData []byte) (exists bool, err error) {
	path := filepath.Join(dir, "spec.yaml")
	old, err := os.ReadFile(path)
	switch {
	case err == nil && !sameSpec(old, specData):
		return true, fmt.Errorf("%w: %s differs from the spec given; use another name or --out, or remove the folder", ErrSpecChanged, path)
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// sameSpec reports whether two spec files say the same thing: equal bytes, or equal
// once parsed (they differ only in comments, layout or key order).
func sameSpec(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var da, db any
	if yaml.Unmarshal(a, &da) != nil || yaml.Unmarshal(b, &db) != nil {
		return false
	}
	ja, errA := json.Marshal(da)
	jb, errB := json.Marshal(db)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// meta is the Parquet key-value metadata of every file of a run.
func (s *Sweep) meta(runID string) map[string]string {
	return map[string]string{"run_id": runID, "sweep": s.Name, "spec_sha256": s.SpecHash, "tool_version": ToolVersion}
}

func (s *Sweep) path(table, runID string) string {
	return filepath.Join(s.Dir, table, runID+".parquet")
}

// Statuses returns the status of every run that has a runs/ row (in either layout).
func (s *Sweep) Statuses() (map[string]string, error) {
	return results.ReadStatuses(s.Dir)
}

// RunWriter streams one run's rows into its table files: one per table of
// results.Registry that is written epoch by epoch (a file is created at the first
// epoch that has rows for its table).
//
// The rows are visible while the run trains: after an epoch, the epochs written since
// the last flush are flushed (each table's file rewritten and renamed into place, see
// tableFile) once FlushInterval has passed since the run's last flush, unless the
// flushes of all the sweep's runs have taken more than 1/FlushBudget of the time since
// the sweep was opened (a group of many runs, or large files: rewriting never takes
// more than about a tenth of the training time). Finish flushes the rest.
type RunWriter struct {
	sweep     *Sweep
	run       sweep.Run
	start     time.Time
	files     []*tableFile // in Registry order
	lastFlush time.Time    // when the last flush ended (the start before the first)
}

// FlushInterval is the shortest time between two flushes of a run's rows; FlushBudget
// the least ratio of a sweep's time to the time its flushes took (0: no limit). A
// run's finished epochs are readable about FlushInterval after the epoch that follows
// them ends, later when flushing would take more than its budget.
var (
	FlushInterval = time.Second
	FlushBudget   = 10
)

// StartRun prepares the run's table files (a file appears at the first flush).
func (s *Sweep) StartRun(r sweep.Run) (*RunWriter, error) {
	now := time.Now()
	w := &RunWriter{sweep: s, run: r, start: now, lastFlush: now}
	for _, t := range results.Registry {
		if !t.PerEpoch() {
			continue
		}
		f, err := newTableFile(t, s.path(t.Name, r.ID), s.meta(r.ID))
		if err != nil {
			w.Abort()
			return nil, err
		}
		w.files = append(w.files, f)
	}
	return w, nil
}

// Epoch writes one epoch's rows (a row group in each table that has rows), and flushes
// the epochs not yet visible when a flush is due.
func (w *RunWriter) Epoch(e *results.Epoch) error {
	for _, f := range w.files {
		if err := f.write(w.run.ID, e); err != nil {
			return err
		}
	}
	if time.Since(w.lastFlush) < FlushInterval || w.sweep.overBudget() {
		return nil
	}
	return w.Flush()
}

// overBudget reports whether the sweep's flushes have taken more than 1/FlushBudget
// of its time so far.
func (s *Sweep) overBudget() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return FlushBudget > 0 && s.flush*time.Duration(FlushBudget) > time.Since(s.opened)
}

// Flush makes every epoch written so far readable.
func (w *RunWriter) Flush() error {
	t0 := time.Now()
	for _, f := range w.files {
		if err := f.flush(); err != nil {
			return err
		}
	}
	w.lastFlush = time.Now()
	w.sweep.mu.Lock()
	w.sweep.flush += w.lastFlush.Sub(t0)
	w.sweep.mu.Unlock()
	return nil
}

// Finish commits the table files and then writes the runs/ row, which marks the run
// as recorded; the row's file records how many rows each table got (results.Verify
// checks them). backend names the backend that ran it. A failed run keeps no rows in
// any table (its epochs are no result; --resume runs it again), only its runs/ row
// with the reason. When a file cannot be written, none of the run's files is left.
func (w *RunWriter) Finish(o results.Outcome, be Backend, groupSize int) error {
	rows := map[string]int64{}
	if o.Status == results.StatusFailed {
		w.Abort()
		if err := w.sweep.removeRunFiles(w.run.ID); err != nil {
			return err
		}
	} else {
		for _, f := range w.files {
			if err := f.commit(); err != nil {
				w.Abort()
				w.sweep.removeRunFiles(w.run.ID)
				return err
			}
			if f.rows > 0 {
				rows[f.table.Name] = f.rows
			}
		}
	}
	end := time.Now()
	final := map[string]float64{}
	for _, m := range o.Final {
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
			final[m.Split+"/"+m.Name] = m.Value
		}
	}
	finalJSON, err := json.Marshal(final)
	if err != nil {
		return err
	}
	metric := func(key string) *float64 {
		if v, ok := final[key]; ok {
			return &v
		}
		return nil
	}
	info := results.RunInfo{
		RunID: w.run.ID, Sweep: w.sweep.Name, RunIndex: int32(w.run.Index), Seed: w.run.Seed,
		Status: o.Status, Message: o.Message, Backend: be.Name, BackendDetail: be.Detail,
		Device: be.Device, Deterministic: be.Deterministic, GroupSize: int32(groupSize), EpochsCompleted: int32(o.Epochs), DivergedEpoch: positive(int32(o.DivergedAt)),
		ResumedFromEpoch: resumedFrom(o),
		StartTime:        w.start.UTC(), EndTime: end.UTC(), WallSeconds: end.Sub(w.start).Seconds(),
		CompileSeconds: positive(o.CompileSecs), InputScale: finiteOrNull(o.InputScale), FinalTrainLoss: metric("train/loss"),
		FinalValidationLoss:           metric("validation/loss"),
		FinalValidationReconstruction: metric("validation/reconstruction"),
		FinalMetrics:                  string(finalJSON), Config: string(w.run.Config),
		SpecHash: w.sweep.SpecHash, ToolVersion: ToolVersion,
	}
	if err := writeRunRow(w.sweep.path(results.RunsTable, w.run.ID), info, w.run.Params, w.sweep.runMeta(w.run.ID, rows)); err != nil {
		// Without its runs/ row the run is not recorded: its files would be orphans.
		w.sweep.removeRunFiles(w.run.ID)
		return err
	}
	return nil
}

// runMeta is the key-value metadata of a run's runs/ file: meta, and the number of
// rows each table got (results.TableRowsKey; a table missing from it has none).
func (s *Sweep) runMeta(runID string, rows map[string]int64) map[string]string {
	m := s.meta(runID)
	b, _ := json.Marshal(rows)
	m[results.TableRowsKey] = string(b)
	return m
}

// removeRunFiles removes a run's files in every table but runs/ (committed and
// temporary ones), and table folders that are left empty.
func (s *Sweep) removeRunFiles(runID string) error {
	var first error
	for _, table := range results.Tables {
		if table == results.RunsTable {
			continue
		}
		paths, _ := filepath.Glob(filepath.Join(s.Dir, table, "."+runID+".parquet.*.tmp"))
		for _, p := range append(paths, s.path(table, runID)) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
				first = fmt.Errorf("remove %s: %w", p, err)
			}
		}
		removeIfEmpty(filepath.Join(s.Dir, table))
	}
	return first
}

// Discard forgets a run: its runs/ row first (so that it is no longer recorded, and
// --resume runs it again), then its files in the other tables. For a finished run
// whose files are damaged (results.Verify).
func (s *Sweep) Discard(runID string) error {
	if err := os.Remove(s.path(results.RunsTable, runID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", s.path(results.RunsTable, runID), err)
	}
	return s.removeRunFiles(runID)
}

// Backend is what a run ran on, for its runs/ row.
type Backend struct {
	Name, Detail  string // "xla" and its plugin, or "go"
	Device        string // the GPU (name, memory) or the CPU's model
	Deterministic bool   // reruns give the same bits (false: a GPU with non-deterministic kernels)
}

// RecordFailed writes a runs/ row with status failed and the reason, for a run whose
// results could not be written (a full disk, a read-only folder), and removes the
// run's rows from every other table: a failed run has no results. Best effort: when
// even this row cannot be written, the run's runs/ file is removed, the run has no row
// and --resume re-runs it.
func (s *Sweep) RecordFailed(r sweep.Run, reason string, be Backend) error {
	removeErr := s.removeRunFiles(r.ID)
	now := time.Now().UTC()
	info := results.RunInfo{RunID: r.ID, Sweep: s.Name, RunIndex: int32(r.Index), Seed: r.Seed,
		Status: results.StatusFailed, Message: reason, Backend: be.Name, BackendDetail: be.Detail,
		Device: be.Device, Deterministic: be.Deterministic,
		StartTime: now, EndTime: now, FinalMetrics: "{}", Config: string(r.Config),
		SpecHash: s.SpecHash, ToolVersion: ToolVersion}
	if err := writeRunRow(s.path(results.RunsTable, r.ID), info, r.Params, s.runMeta(r.ID, map[string]int64{})); err != nil {
		os.Remove(s.path(results.RunsTable, r.ID))
		return err
	}
	return removeErr
}

// Abort removes the run's files (the rows it flushed too: the run is not recorded);
// files of other runs are untouched.
func (w *RunWriter) Abort() {
	for _, f := range w.files {
		if f != nil {
			f.abort()
		}
	}
}

// positive is v, or nil (null) when v is 0: a value that does not exist.
// resumedFrom is the runs table's resumed_from_epoch: the epochs complete at the
// checkpoint the run resumed from (0: inside epoch 1), null when it never resumed.
func resumedFrom(o results.Outcome) *int32 {
	if !o.Resumed {
		return positive(int32(o.ResumedFrom))
	}
	v := int32(o.ResumedFrom)
	return &v
}

func positive[T int32 | float64](v T) *T {
	if v <= 0 {
		return nil
	}
	return &v
}

// finiteOrNull is v, or null for NaN (a value that does not exist) and for a run that
// produced no outcome value (0).
func finiteOrNull(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return nil
	}
	return &v
}
