package results_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/sweep"
)

// allFiles lists every file under dir with its size, hidden ones included.
func allFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			out[rel] = info.Size()
		}
		return nil
	})
	return out
}

// copyDir copies a sweep folder (files only).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	for rel := range allFiles(t, src) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func hiddenOrCompact(files map[string]int64) []string {
	var bad []string
	for rel := range files {
		if strings.HasPrefix(filepath.Base(rel), ".") || strings.HasPrefix(rel, ".compact") {
			bad = append(bad, rel)
		}
	}
	return bad
}

func TestACompactionThatRunsOutOfDiskRemovesWhatItWroteAndLosesNothing(t *testing.T) {
	w, src := newSweep(t)
	for i := range 6 {
		fakeRun(t, w, i, results.StatusCompleted, 3)
	}
	fakeRun(t, w, 6, results.StatusInterrupted, 1)
	fakeRun(t, w, 7, results.StatusFailed, 0)
	before := read(t, src)
	opts := results.CompactOptions{RowGroupRows: 40, FileBytes: 8 << 10}

	// What a whole compaction writes, to place the failures across it.
	clean := filepath.Join(t.TempDir(), "s")
	copyDir(t, src, clean)
	if _, err := results.Compact(clean, opts); err != nil {
		t.Fatal(err)
	}
	var total int64
	for rel, n := range allFiles(t, clean) {
		if strings.HasPrefix(filepath.Base(rel), "part-") {
			total += n
		}
	}
	failedInRuns := false
	for k := range 10 {
		limit := total * int64(k) / 10
		dir := filepath.Join(t.TempDir(), "s")
		copyDir(t, src, dir)
		restore := results.FailPartWritesAfter(limit)
		done, err := results.Compact(dir, opts)
		restore()
		if err == nil || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("disk full after %d of %d bytes: compaction returned %v, want ENOSPC", limit, total, err)
		}
		if strings.Contains(err.Error(), filepath.Join(dir, results.RunsTable)) {
			failedInRuns = true
		}
		files := allFiles(t, dir)
		if bad := hiddenOrCompact(files); len(bad) != 0 {
			t.Errorf("disk full after %d bytes (%d tables switched): left %v", limit, len(done), bad)
		}
		if _, err := os.Stat(filepath.Join(dir, "claims")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("disk full after %d bytes: claims/ left (%v)", limit, err)
		}
		if got := read(t, dir); !reflect.DeepEqual(got, before) {
			t.Errorf("disk full after %d bytes: the reader returns other rows than before", limit)
		}
		// With space again, the compaction finishes the job.
		if _, err := results.Compact(dir, opts); err != nil {
			t.Fatalf("compaction after the disk was freed: %v", err)
		}
		if got := read(t, dir); !reflect.DeepEqual(got, before) {
			t.Errorf("disk full after %d bytes, then compacted: the reader returns other rows", limit)
		}
	}
	if !failedInRuns {
		t.Error("no failure landed in the runs table (the last one): the test covers less than it says")
	}
}

func TestTemporaryFilesOfAKilledProcessAreRemovedOnTheNextStart(t *testing.T) {
	w, dir := newSweep(t)
	fakeRun(t, w, 1, results.StatusCompleted, 2)
	// A file of someone else, named like a run's: left alone.
	foreign := filepath.Join(dir, results.MetricsTable, "0000000000ee.parquet")
	writeParquet(t, foreign, []struct {
		A int64 `parquet:"a"`
	}{{1}})
	plant := func() []string {
		// A run killed after committing its tables, before its runs/ row.
		orphan := fakeRun(t, w, 2, results.StatusCompleted, 1)
		os.Remove(filepath.Join(dir, results.RunsTable, orphan+".parquet"))
		paths := []string{
			filepath.Join(dir, results.MetricsTable, ".0000000000ff.parquet.123.tmp"),
			filepath.Join(dir, results.UnitsTable, ".0000000000ff.parquet.abc.tmp"),
			filepath.Join(dir, ".compact", "metrics.new", "part-00000.parquet"),
		}
		for _, p := range paths {
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return paths
	}
	os.Remove(foreign) // (the reader refuses it by name)
	before := read(t, dir)
	writeParquet(t, foreign, []struct {
		A int64 `parquet:"a"`
	}{{1}})
	plant()
	lock, err := results.LockForWriting(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	if bad := hiddenOrCompact(allFiles(t, dir)); len(bad) != 0 {
		t.Errorf("a runner's start left %v", bad)
	}
	orphans := func(when string) {
		t.Helper()
		for _, table := range results.Tables {
			for _, f := range files(dir, table) {
				if f != "0000000000ee.parquet" && !strings.HasPrefix(f, "part-") && !strings.HasPrefix(f, strings.TrimSuffix(files(dir, results.RunsTable)[0], ".parquet")) {
					t.Errorf("%s left %s/%s", when, table, f)
				}
			}
		}
		if _, err := os.Stat(foreign); err != nil {
			t.Errorf("%s removed a file of someone else: %v", when, err)
		}
	}
	orphans("a runner's start")
	if _, err := os.Stat(filepath.Join(dir, "claims")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("claims/ left after the lock was released (%v)", err)
	}
	plant()
	if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	if bad := hiddenOrCompact(allFiles(t, dir)); len(bad) != 0 {
		t.Errorf("a compaction left %v", bad)
	}
	orphans("a compaction")
	os.Remove(foreign)
	if got := read(t, dir); !reflect.DeepEqual(got, before) {
		t.Error("removing stale files changed the rows")
	}
}

// writeParquet writes rows of any type to path.
func writeParquet[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTheReaderRefusesForeignFilesByNameAndNeverReadsZeros(t *testing.T) {
	type foreign struct {
		A int64  `parquet:"a"`
		B string `parquet:"b"`
	}
	type stringValue struct {
		RunID  string  `parquet:"run_id"`
		Epoch  int32   `parquet:"epoch"`
		Split  string  `parquet:"split"`
		Metric string  `parquet:"metric"`
		Value  string  `parquet:"value"`
		Secs   float64 `parquet:"elapsed_seconds"`
	}
	type int64Epoch struct {
		RunID  string  `parquet:"run_id"`
		Epoch  int64   `parquet:"epoch"`
		Split  string  `parquet:"split"`
		Metric string  `parquet:"metric"`
		Value  float64 `parquet:"value"`
		Secs   float64 `parquet:"elapsed_seconds"`
	}
	type nullable struct {
		RunID  string   `parquet:"run_id"`
		Epoch  int32    `parquet:"epoch"`
		Split  string   `parquet:"split"`
		Metric string   `parquet:"metric"`
		Value  *float64 `parquet:"value,optional"`
		Secs   float64  `parquet:"elapsed_seconds"`
	}
	type flatActivation struct {
		RunID           string  `parquet:"run_id"`
		Epoch           int32   `parquet:"epoch"`
		Layer           string  `parquet:"layer"`
		Sample          int32   `parquet:"sample"`
		ValidationIndex int32   `parquet:"validation_index"`
		Label           int32   `parquet:"label"`
		Activation      float32 `parquet:"activation"`
	}
	one := 1.5
	cases := []struct {
		name  string
		table string
		write func(t *testing.T, path, id string)
		want  string // "" : read back as written
	}{
		{"another table's file", results.MetricsTable, func(t *testing.T, p, id string) { writeParquet(t, p, []foreign{{A: 1, B: "x"}}) }, "no column run_id"},
		{"value as text", results.MetricsTable, func(t *testing.T, p, id string) {
			writeParquet(t, p, []stringValue{{RunID: id, Epoch: 1, Split: "train", Metric: "loss", Value: "0.5"}})
		}, "column value is string, expected double"},
		{"epoch as int64", results.MetricsTable, func(t *testing.T, p, id string) {
			writeParquet(t, p, []int64Epoch{{RunID: id, Epoch: 1, Split: "train", Metric: "loss", Value: 0.5}})
		}, "column epoch is int64, expected int32"},
		{"a null value", results.MetricsTable, func(t *testing.T, p, id string) {
			writeParquet(t, p, []nullable{{RunID: id, Epoch: 1, Split: "train", Metric: "loss", Value: &one}, {RunID: id, Epoch: 2, Split: "train", Metric: "loss"}})
		}, "column value holds 1 nulls"},
		{"nullable without nulls", results.MetricsTable, func(t *testing.T, p, id string) {
			writeParquet(t, p, []nullable{{RunID: id, Epoch: 1, Split: "train", Metric: "loss", Value: &one}})
		}, ""},
		{"a value where a list belongs", results.ActivationsTable, func(t *testing.T, p, id string) {
			writeParquet(t, p, []flatActivation{{RunID: id, Epoch: 1, Layer: "encoder.0", Activation: 2}})
		}, "column activation is float, expected a list"},
		{"zero-length body", results.MetricsTable, func(t *testing.T, p, id string) { os.WriteFile(p, nil, 0o644) }, "empty (0 bytes)"},
		{"truncated", results.MetricsTable, func(t *testing.T, p, id string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, "not a readable Parquet file"},
		{"not parquet at all", results.UnitsTable, func(t *testing.T, p, id string) {
			os.WriteFile(p, []byte("PAR1 this is text\n"), 0o644)
		}, "not a readable Parquet file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range []string{"per-run", "part", "stranger"} {
				w, dir := newSweep(t)
				id := fakeRun(t, w, 1, results.StatusCompleted, 2)
				path := filepath.Join(dir, c.table, id+".parquet")
				if name == "stranger" {
					// A file of no run of the sweep, beside the run's own.
					b, _ := os.ReadFile(path)
					path = filepath.Join(dir, c.table, "notes.parquet")
					os.WriteFile(path, b, 0o644)
				}
				if name == "part" {
					// A foreign file beside the per-run ones, named like a compacted part.
					b, _ := os.ReadFile(path)
					path = filepath.Join(dir, c.table, "part-00009.parquet")
					os.WriteFile(path, b, 0o644)
					os.Remove(filepath.Join(dir, c.table, id+".parquet"))
				}
				c.write(t, path, id)
				sw, _ := results.Open(dir)
				var err error
				var n int
				switch c.table {
				case results.MetricsTable:
					var m results.Metrics
					m, err = sw.Metrics(results.Filter{})
					n = len(m)
					if err == nil && c.want == "" && name != "stranger" && (n != 1 || m[0].Value != one) {
						t.Errorf("%s: read %+v, want the one row written", name, m)
					}
				case results.UnitsTable:
					_, err = sw.Units(results.Filter{})
				case results.ActivationsTable:
					_, err = sw.Activations(results.Filter{})
				}
				if c.want == "" {
					if err != nil {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: got %v (%d rows), want an error naming %s and saying %q", name, err, n, path, c.want)
				}
			}
		})
	}
}

func TestVerifyNamesEachDamagedFileOfAFinishedRunAndResumeRunsThemAgain(t *testing.T) {
	w, dir := newSweep(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, fakeRun(t, w, i, results.StatusCompleted, 3))
	}
	interrupted := fakeRun(t, w, 5, results.StatusInterrupted, 1)
	a, b, c, d, e := ids[0], ids[1], ids[2], ids[3], ids[4]
	p := func(table, id string) string { return filepath.Join(dir, table, id+".parquet") }
	// a: metrics cut short; b: units with a zero-length body; c: activations gone;
	// d: weights with a row less than recorded; e: its runs/ file is not Parquet.
	m, _ := os.ReadFile(p(results.MetricsTable, a))
	os.WriteFile(p(results.MetricsTable, a), m[:len(m)-40], 0o644)
	os.WriteFile(p(results.UnitsTable, b), nil, 0o644)
	os.Remove(p(results.ActivationsTable, c))
	rows, err := parquet.ReadFile[results.WeightRow](p(results.WeightsTable, d))
	if err != nil {
		t.Fatal(err)
	}
	writeParquet(t, p(results.WeightsTable, d), rows[1:])
	os.WriteFile(p(results.RunsTable, e), []byte("garbage"), 0o644)
	// An unfinished run's damage is no concern: --resume runs it again anyway.
	os.WriteFile(p(results.MetricsTable, interrupted), nil, 0o644)

	damage, err := results.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dm := range damage {
		got = append(got, dm.RunID+" "+dm.Path)
	}
	sort.Strings(got)
	want := []string{a + " " + p(results.MetricsTable, a), b + " " + p(results.UnitsTable, b), c + " " + p(results.ActivationsTable, c),
		d + " " + p(results.WeightsTable, d), e + " " + p(results.RunsTable, e)}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("damage\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, dm := range damage {
		if dm.RunID == d && !strings.Contains(dm.Problem, "holds 5 rows; the run's runs/ file records 6") {
			t.Errorf("weights damage says %q", dm.Problem)
		}
	}

	var log bytes.Buffer
	if err := w.DiscardDamaged(&log); err != nil {
		t.Fatal(err)
	}
	for _, x := range want {
		if !strings.Contains(log.String(), strings.Fields(x)[1]) {
			t.Errorf("the log does not name %s:\n%s", x, log.String())
		}
	}
	// The damaged files are kept aside, not deleted (the missing one excepted).
	for _, x := range []string{p(results.MetricsTable, a), p(results.UnitsTable, b), p(results.WeightsTable, d), p(results.RunsTable, e)} {
		aside := filepath.Join(dir, "damaged", filepath.Base(filepath.Dir(x)), filepath.Base(x))
		if _, err := os.Stat(aside); err != nil || !strings.Contains(log.String(), "moved to "+aside) {
			t.Errorf("%s is not kept as %s (%v):\n%s", x, aside, err, log.String())
		}
	}
	st, err := results.ReadStatuses(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[interrupted] != results.StatusInterrupted {
		t.Errorf("statuses after discarding %v, want only the interrupted run", st)
	}
	for _, id := range []string{a, b, c, d, e} {
		for _, table := range results.Tables {
			if _, err := os.Stat(p(table, id)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a discarded run's %s left", p(table, id))
			}
		}
	}
	if damage, _ := results.Verify(dir); len(damage) != 0 {
		t.Errorf("still damaged: %v", damage)
	}
}

func TestADamagedCompactedPartIsNamedAndNotRunAgainRunByRun(t *testing.T) {
	w, dir := newSweep(t)
	for i := range 3 {
		fakeRun(t, w, i, results.StatusCompleted, 2)
	}
	if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, results.MetricsTable, "part-00000.parquet")
	b, _ := os.ReadFile(part)
	os.WriteFile(part, b[:len(b)-10], 0o644)
	damage, err := results.Verify(dir)
	if err != nil || len(damage) != 1 || damage[0].Path != part || damage[0].RunID != "" {
		t.Fatalf("damage %v %v", damage, err)
	}
	if err := w.DiscardDamaged(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), part) {
		t.Errorf("got %v, want an error naming %s", err, part)
	}
	if st, _ := results.ReadStatuses(dir); len(st) != 3 {
		t.Errorf("runs were discarded: %v", st)
	}
}

func TestRowsOfFailedRunsAndOfFilesNotWrittenForTheirRunAreNeverShown(t *testing.T) {
	w, dir := newSweep(t)
	good := fakeRun(t, w, 1, results.StatusCompleted, 2)
	failed := fakeRun(t, w, 2, results.StatusCompleted, 2)
	want := read(t, dir)
	// A folder written by an older version: the failed run kept its metrics file.
	kept, _ := os.ReadFile(filepath.Join(dir, results.MetricsTable, failed+".parquet"))
	if err := w.RecordFailed(sweepRun(failed, 2), "writing results failed: disk full", writer.Backend{Name: "go"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, results.MetricsTable, failed+".parquet"), kept, 0o644)
	// A file of no recorded run whose metadata names another run (a copy): not the
	// live rows of a run being trained.
	goodRows, _ := os.ReadFile(filepath.Join(dir, results.UnitsTable, good+".parquet"))
	os.WriteFile(filepath.Join(dir, results.UnitsTable, "0000000fffff.parquet"), goodRows, 0o644)

	sw, _ := results.Open(dir)
	m, err := sw.Metrics(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m {
		if r.RunID != good {
			t.Fatalf("metrics show a row of run %s (failed)", r.RunID)
		}
	}
	if len(m) != len(want.Metrics)/2 {
		t.Errorf("%d metric rows, want %d", len(m), len(want.Metrics)/2)
	}
	u, err := sw.Units(results.Filter{})
	if err != nil || len(u) != len(want.Units)/2 {
		t.Errorf("%d unit rows (%v), want %d: a copied file is shown as a live run", len(u), err, len(want.Units)/2)
	}
}

func sweepRun(id string, index int) sweep.Run { return sweep.Run{ID: id, Index: index} }
