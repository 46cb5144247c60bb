package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

// finishedIDs runs the small sweep once, uncompacted, and returns its folder and run ids.
func finishedIDs(t *testing.T, path string) (string, []string) {
	t.Helper()
	out := t.TempDir()
	o := opts(out)
	o.NoCompact = true
	if sum, err := RunFile(context.Background(), path, o); err != nil || sum.Completed != 4 {
		t.Fatalf("%+v %v", sum, err)
	}
	sw, _ := results.Open(filepath.Join(out, "small"))
	runs, err := sw.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "small"), runs.IDs()
}

func TestAWriteFailingAtCommitLeavesNoRowsOfTheFailedRunAndResumeRerunsIt(t *testing.T) {
	path := writeSpec(t, sweepSpec)
	_, ids := finishedIDs(t, path)
	out := t.TempDir()
	dir := filepath.Join(out, "small")
	// The third run's metrics file is renamed into place, then its units file cannot
	// be (a folder is in its way, as a full disk or a read-only folder would stop it).
	blocker := filepath.Join(dir, results.UnitsTable, ids[2]+".parquet")
	if err := os.MkdirAll(filepath.Join(blocker, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := RunFile(context.Background(), path, opts(out)); err == nil || !strings.Contains(err.Error(), blocker) {
		t.Fatalf("want an error naming %s, got %v", blocker, err)
	}
	st, _ := results.ReadStatuses(dir)
	if st[ids[2]] != results.StatusFailed {
		t.Fatalf("statuses %v, want %s failed", st, ids[2])
	}
	for _, table := range results.Tables[:len(results.Tables)-1] {
		if _, err := os.Stat(filepath.Join(dir, table, ids[2]+".parquet")); err == nil && table != results.UnitsTable {
			t.Errorf("the failed run kept %s/%s.parquet", table, ids[2])
		}
	}
	for _, r := range readMetrics(t, dir) {
		if st[r.RunID] != results.StatusCompleted {
			t.Fatalf("the metrics show a row of run %s (%s)", r.RunID, st[r.RunID])
		}
	}
	os.RemoveAll(blocker)
	o := opts(out)
	o.Resume = true
	sum, err := RunFile(context.Background(), path, o)
	if err != nil || sum.Completed != 2 || sum.Skipped != 2 {
		t.Fatalf("resume: %+v %v", sum, err)
	}
	if m := readMetrics(t, dir); len(m) != 4*2*10 {
		t.Errorf("%d metric rows after resume, want %d: each run's rows once", len(m), 4*2*10)
	}
}

func TestResumeRunsAgainAFinishedRunWhoseFileIsDamaged(t *testing.T) {
	path := writeSpec(t, sweepSpec)
	dir, ids := finishedIDs(t, path)
	want := readMetrics(t, dir)
	damaged := filepath.Join(dir, results.MetricsTable, ids[1]+".parquet")
	b, _ := os.ReadFile(damaged)
	os.WriteFile(damaged, b[:len(b)/3], 0o644)

	o := opts(filepath.Dir(dir))
	o.Resume = true
	var log bytes.Buffer
	o.Log = &log
	sum, err := RunFile(context.Background(), path, o)
	if err != nil || sum.Completed != 1 || sum.Skipped != 3 {
		t.Fatalf("resume: %+v %v\n%s", sum, err, log.String())
	}
	if !strings.Contains(log.String(), "damaged: "+damaged) {
		t.Errorf("the log does not name the damaged file:\n%s", log.String())
	}
	if strings.Contains(log.String(), "intact") {
		t.Errorf("the log calls something intact:\n%s", log.String())
	}
	if got := readMetrics(t, dir); len(got) != len(want) {
		t.Errorf("%d metric rows after the rerun, want %d", len(got), len(want))
	}
	if d, err := results.Verify(dir); err != nil || len(d) != 0 {
		t.Errorf("after the rerun: %v %v", d, err)
	}
}
