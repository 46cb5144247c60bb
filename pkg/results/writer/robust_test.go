package writer

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// runFiles lists the files of a sweep folder (temporary ones included), relative to it.
func runFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func epoch(e int) *train.Epoch {
	return &train.Epoch{Epoch: e, Metrics: []train.Metric{{Split: "validation", Name: "loss", Value: 0.5}},
		Units:       []train.UnitStats{{Layer: "encoder.0", Unit: 0, MeanActivation: 0.1}},
		Activations: []train.Activations{{Layer: "encoder.0", Index: []int{4}, Labels: []int{2}, Vectors: [][]float32{{0.1, 0.2}}}}}
}

func TestAFailedRunKeepsNoRowsInAnyTable(t *testing.T) {
	dir := t.TempDir()
	sw, err := OpenSweep(dir, "s", []byte("name: s\n"))
	if err != nil {
		t.Fatal(err)
	}
	// (1) Training fails after an epoch was written: the epoch is no result.
	w, err := sw.StartRun(sweep.Run{ID: "trainfail"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Epoch(epoch(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(train.Outcome{Status: train.StatusFailed, Message: "boom", Epochs: 1}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	// (2) A committed run is recorded failed afterwards (a later member of its group
	// could not be written): its committed files go.
	w, _ = sw.StartRun(sweep.Run{ID: "laterfail"})
	w.Epoch(epoch(1))
	if err := w.Finish(train.Outcome{Status: train.StatusCompleted, Epochs: 1}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	if err := sw.RecordFailed(sweep.Run{ID: "laterfail"}, "writing results failed: disk full", Backend{Name: "go"}); err != nil {
		t.Fatal(err)
	}
	// (3) The disk fills while the files are committed: metrics is renamed into place,
	// units cannot be (a folder is in its way, as a full disk or a read-only folder
	// would stop it). No file of the run may stay.
	w, _ = sw.StartRun(sweep.Run{ID: "commitfail"})
	w.Epoch(epoch(1))
	if err := os.MkdirAll(filepath.Join(sw.Dir, results.UnitsTable, "commitfail.parquet", "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(train.Outcome{Status: train.StatusCompleted, Epochs: 1}, Backend{Name: "go"}, 1); err == nil {
		t.Fatal("a commit that cannot rename succeeded")
	}
	os.RemoveAll(filepath.Join(sw.Dir, results.UnitsTable, "commitfail.parquet"))
	if err := sw.RecordFailed(sweep.Run{ID: "commitfail"}, "writing results failed", Backend{Name: "go"}); err != nil {
		t.Fatal(err)
	}

	want := []string{"runs/commitfail.parquet", "runs/laterfail.parquet", "runs/trainfail.parquet", "spec.yaml"}
	if got := runFiles(t, sw.Dir); !equal(got, want) {
		t.Errorf("files %v, want only %v", got, want)
	}
	st, err := sw.Statuses()
	if err != nil || st["trainfail"] != "failed" || st["laterfail"] != "failed" || st["commitfail"] != "failed" {
		t.Errorf("statuses %v %v", st, err)
	}
	// Only the runs folder is left: no empty table folders.
	entries, _ := os.ReadDir(sw.Dir)
	for _, e := range entries {
		if e.IsDir() && e.Name() != results.RunsTable {
			t.Errorf("folder %s left", e.Name())
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestATableARunRecordsNothingInHasNoFileAndTheRowCountsAreRecorded(t *testing.T) {
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	w, _ := sw.StartRun(sweep.Run{ID: "r"})
	w.Epoch(epoch(1))
	w.Epoch(epoch(2))
	if err := w.Finish(train.Outcome{Status: train.StatusCompleted, Epochs: 2}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sw.Dir, results.ImagesTable)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a run without reconstructions made the reconstructions folder (%v)", err)
	}
	if damage, err := results.Verify(sw.Dir); err != nil || len(damage) != 0 {
		t.Errorf("a sound run verifies as %v %v", damage, err)
	}
	// The recorded counts are checked: a units file with a row less is damage.
	units := filepath.Join(sw.Dir, results.UnitsTable, "r.parquet")
	os.Remove(units)
	w2, _ := sw.StartRun(sweep.Run{ID: "r"})
	w2.Epoch(epoch(1))
	for _, f := range w2.files {
		if f.table.Name == results.UnitsTable {
			f.commit() // only units is flushed: the other tables' rows wait in memory
		}
	}
	damage, err := results.Verify(sw.Dir)
	if err != nil || len(damage) != 1 || damage[0].Path != units || damage[0].RunID != "r" {
		t.Errorf("damage %v %v, want %s with a row count", damage, err, units)
	}
}

func TestResultFilesFollowTheUmask(t *testing.T) {
	for _, c := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o644}, {0o002, 0o664}, {0o077, 0o600}} {
		old := syscall.Umask(c.umask)
		dir := t.TempDir()
		sw, err := OpenSweep(dir, "s", []byte("name: s\n"))
		if err != nil {
			syscall.Umask(old)
			t.Fatal(err)
		}
		w, _ := sw.StartRun(sweep.Run{ID: "r"})
		w.Epoch(epoch(1))
		err = w.Finish(train.Outcome{Status: train.StatusCompleted, Epochs: 1}, Backend{Name: "go"}, 1)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		files := runFiles(t, sw.Dir)
		if len(files) < 5 {
			t.Fatalf("files %v", files)
		}
		for _, f := range files {
			st, _ := os.Stat(filepath.Join(sw.Dir, f))
			if st.Mode().Perm() != c.want {
				t.Errorf("umask %03o: %s has mode %v, want %v", c.umask, f, st.Mode().Perm(), c.want)
			}
			// Its folder: 0777 less the umask.
			dst, _ := os.Stat(filepath.Dir(filepath.Join(sw.Dir, f)))
			if want := os.FileMode(0o777 &^ c.umask); dst.Mode().Perm() != want {
				t.Errorf("umask %03o: the folder of %s has mode %v, want %v", c.umask, f, dst.Mode().Perm(), want)
			}
		}
	}
}

func TestClaimsLeaveNoLockFilesAndNeverHoldARunTwice(t *testing.T) {
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	c, err := sw.Claim("r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Claim("r"); !errors.Is(err, ErrClaimed) {
		t.Errorf("a held run claimed again: %v", err)
	}
	c.Release()
	if _, err := os.Stat(filepath.Join(sw.Dir, "claims")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("claims/ left after the last release (%v)", err)
	}
	// Many claimers racing on two runs while lock files come and go: at no moment do
	// two hold one run.
	var holders [2]atomic.Int32
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1500 {
				k := (g + i) % 2
				c, err := sw.Claim([]string{"a", "b"}[k])
				if errors.Is(err, ErrClaimed) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if holders[k].Add(1) != 1 {
					bad.Add(1)
				}
				runtime.Gosched()
				holders[k].Add(-1)
				c.Release()
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("a run was held twice at once %d times", bad.Load())
	}
	if left := runFiles(t, filepath.Join(sw.Dir, "claims")); len(left) != 0 {
		t.Errorf("lock files left: %v", left)
	}
}

func TestAnUnreadableRunsFileRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	w, _ := sw.StartRun(sweep.Run{ID: "good"})
	w.Epoch(epoch(1))
	if err := w.Finish(train.Outcome{Status: train.StatusCompleted, Epochs: 1}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{nil, []byte("PAR1"), []byte("not parquet at all")} {
		os.WriteFile(filepath.Join(sw.Dir, results.RunsTable, "bad.parquet"), body, 0o644)
		if st, err := sw.Status("bad"); st != "" || err != nil {
			t.Errorf("%q: status %q %v, want none", body, st, err)
		}
		if all, err := sw.Statuses(); err != nil || len(all) != 1 || all["good"] != "completed" {
			t.Errorf("%q: statuses %v %v", body, all, err)
		}
	}
}
