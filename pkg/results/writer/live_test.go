package writer

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// TestMain doubles as a writing process for the kill test: with SAERUN_TEST_LIVE_DIR
// set, the test binary writes runs into that sweep folder, epoch after epoch, flushing
// after every epoch, until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SAERUN_TEST_LIVE_DIR"); dir != "" {
		FlushInterval, FlushBudget = 0, 0
		sw, err := OpenSweep(dir, "s", []byte("name: s\n"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for i := 0; ; i++ {
			id := fmt.Sprintf("%06x%06x", os.Getpid()&0xffffff, i) // a new run each time
			w, err := sw.StartRun(sweep.Run{ID: id, Index: i})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			for e := 1; e <= 12; e++ {
				if err := w.Epoch(bigEpoch(e)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
			}
			status := results.StatusCompleted
			if i%2 == 1 {
				status = results.StatusFailed
			}
			if err := w.Finish(train.Outcome{Status: status, Epochs: 12}, Backend{Name: "go"}, 1); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
	os.Exit(m.Run())
}

// bigEpoch is an epoch with a few hundred unit rows, so that a flush takes long enough
// for kills to land inside it.
func bigEpoch(e int) *train.Epoch {
	ep := &train.Epoch{Epoch: e, Metrics: []train.Metric{{Split: "validation", Name: "loss", Value: 1 / float64(e)}, {Split: "train", Name: "loss", Value: 2 / float64(e)}}}
	for u := range 300 {
		ep.Units = append(ep.Units, train.UnitStats{Layer: "encoder.0", Unit: u, MeanActivation: float64(e*u) * 1e-3})
	}
	return ep
}

// checkLive reads the metrics table and checks that every run shows epochs 1..k, each
// once, with the same k for its two metrics (a prefix of its training, never a row
// twice, never a torn file). It returns k per run.
func checkLive(t *testing.T, dir string) map[string]int {
	t.Helper()
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sw.Metrics(results.Filter{})
	if err != nil {
		t.Fatalf("reading live metrics: %v", err)
	}
	seen := map[string]map[string]int{} // run -> split -> epochs seen (in order)
	for _, r := range m {
		if seen[r.RunID] == nil {
			seen[r.RunID] = map[string]int{}
		}
		if int(r.Epoch) != seen[r.RunID][r.Split]+1 {
			t.Fatalf("run %s %s: epoch %d after %d (a row twice or a gap)", r.RunID, r.Split, r.Epoch, seen[r.RunID][r.Split])
		}
		seen[r.RunID][r.Split]++
	}
	out := map[string]int{}
	for id, s := range seen {
		if s["train"] != s["validation"] {
			t.Fatalf("run %s: %d train epochs, %d validation epochs", id, s["train"], s["validation"])
		}
		out[id] = s["train"]
	}
	return out
}

// everyEpoch makes runs flush after every epoch until the test ends.
func everyEpoch(t *testing.T) {
	i, b := FlushInterval, FlushBudget
	FlushInterval, FlushBudget = 0, 0
	t.Cleanup(func() { FlushInterval, FlushBudget = i, b })
}

func TestARunsEpochsAreReadableWhileItTrainsEachOnce(t *testing.T) {
	everyEpoch(t)
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	// An earlier attempt at the run, killed after three epochs: its rows are replaced
	// by the new attempt's, never added to them.
	old, _ := sw.StartRun(sweep.Run{ID: "aa"})
	for e := 1; e <= 3; e++ {
		old.Epoch(bigEpoch(e))
	}
	if got := checkLive(t, sw.Dir); got["aa"] != 3 {
		t.Fatalf("the killed attempt shows %v epochs, want 3", got)
	}
	w, _ := sw.StartRun(sweep.Run{ID: "aa"})
	for e := 1; e <= 5; e++ {
		if err := w.Epoch(bigEpoch(e)); err != nil {
			t.Fatal(err)
		}
		if got := checkLive(t, sw.Dir); got["aa"] != e {
			t.Fatalf("after epoch %d the run shows %d epochs", e, got["aa"])
		}
	}
	// The reader of a run not recorded yet reads every table, units too.
	r, _ := results.Open(sw.Dir)
	if u, err := r.Units(results.Filter{}); err != nil || len(u) != 5*300 {
		t.Fatalf("%d unit rows (%v), want %d", len(u), err, 5*300)
	}
	// A run being trained is no damage: Verify checks finished runs.
	if damage, err := results.Verify(sw.Dir); err != nil || len(damage) != 0 {
		t.Fatalf("a run being trained verifies as %v %v", damage, err)
	}
	if err := w.Finish(train.Outcome{Status: results.StatusCompleted, Epochs: 5}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	if got := checkLive(t, sw.Dir); got["aa"] != 5 {
		t.Fatalf("finished run shows %d epochs", got["aa"])
	}
	if damage, err := results.Verify(sw.Dir); err != nil || len(damage) != 0 {
		t.Fatalf("a run written in flushes verifies as %v %v", damage, err)
	}
	if _, err := results.Compact(sw.Dir, results.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := checkLive(t, sw.Dir); got["aa"] != 5 {
		t.Fatalf("compacted run shows %d epochs", got["aa"])
	}
}

func TestFlushesAreThrottledByIntervalAndBudget(t *testing.T) {
	everyEpoch(t)
	FlushInterval = time.Hour
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	w, _ := sw.StartRun(sweep.Run{ID: "bb"})
	for e := 1; e <= 3; e++ {
		w.Epoch(bigEpoch(e))
	}
	if got := checkLive(t, sw.Dir); got["bb"] != 0 {
		t.Fatalf("with an hour's interval %d epochs were flushed", got["bb"])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := checkLive(t, sw.Dir); got["bb"] != 3 {
		t.Fatalf("Flush shows %d epochs, want 3", got["bb"])
	}
	// Flushes that took more than 1/FlushBudget of the sweep's time so far wait.
	FlushInterval, FlushBudget = 0, 10
	if sw.flush <= 0 {
		t.Fatal("the sweep did not count the flush's time")
	}
	sw.flush = time.Hour
	w.Epoch(bigEpoch(4))
	if got := checkLive(t, sw.Dir); got["bb"] != 3 {
		t.Fatalf("a flush ran over the budget: %d epochs", got["bb"])
	}
	sw.flush = 0
	w.Epoch(bigEpoch(5))
	if got := checkLive(t, sw.Dir); got["bb"] != 5 {
		t.Fatalf("%d epochs, want 5", got["bb"])
	}
	w.Abort()
	if got := checkLive(t, sw.Dir); got["bb"] != 0 {
		t.Fatalf("an aborted run shows %d epochs", got["bb"])
	}
}

func TestAReaderPollingWhileRunsTrainSeesPrefixesNeverTornOrTwice(t *testing.T) {
	everyEpoch(t)
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	const runs, epochs = 4, 30
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _ := sw.StartRun(sweep.Run{ID: fmt.Sprintf("%012x", i), Index: i})
			for e := 1; e <= epochs; e++ {
				if err := w.Epoch(bigEpoch(e)); err != nil {
					t.Error(err)
					return
				}
			}
			status := results.StatusCompleted
			if i == 3 {
				status = results.StatusFailed
			}
			if err := w.Finish(train.Outcome{Status: status, Epochs: epochs}, Backend{Name: "go"}, 1); err != nil {
				t.Error(err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := map[string]int{}
	polls := 0
	for running := true; running; polls++ {
		select {
		case <-done:
			running = false
		default:
		}
		for id, k := range checkLive(t, sw.Dir) {
			if k < last[id] && id != fmt.Sprintf("%012x", 3) {
				t.Fatalf("run %s went back from %d to %d epochs", id, last[id], k)
			}
			last[id] = k
		}
	}
	final := checkLive(t, sw.Dir)
	for i := range runs {
		id := fmt.Sprintf("%012x", i)
		want := epochs
		if i == 3 {
			want = 0 // failed: no rows
		}
		if final[id] != want {
			t.Errorf("run %s ends with %d epochs, want %d", id, final[id], want)
		}
	}
	t.Logf("%d polls", polls)
}

// TestKillsAtRandomMomentsLeaveWholeFilesAndNoFailedRows kills a process writing runs
// (flushing after every epoch) at random moments, then checks every visible file: a
// whole Parquet file of one run, epochs 1..k each once, and no rows of a run recorded
// failed.
func TestKillsAtRandomMomentsLeaveWholeFilesAndNoFailedRows(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 8
	if testing.Short() {
		kills = 3
	}
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SAERUN_TEST_LIVE_DIR="+dir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for _, table := range []string{results.MetricsTable, results.UnitsTable} {
			files, _ := filepath.Glob(filepath.Join(dir, "s", table, "*.parquet"))
			for _, p := range files {
				rows, err := parquet.ReadFile[struct {
					RunID string `parquet:"run_id"`
				}](p)
				if err != nil {
					t.Fatalf("kill %d: %s is not whole: %v", k, p, err)
				}
				id := filepath.Base(p[:len(p)-len(".parquet")])
				for _, r := range rows {
					if r.RunID != id {
						t.Fatalf("kill %d: %s holds a row of run %s", k, p, r.RunID)
					}
				}
			}
		}
		got := checkLive(t, filepath.Join(dir, "s"))
		st, err := results.ReadStatuses(filepath.Join(dir, "s"))
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range got {
			if st[id] == results.StatusFailed && n > 0 {
				t.Fatalf("kill %d: run %s is recorded failed but shows %d epochs", k, id, n)
			}
			if st[id] == results.StatusCompleted && n != 12 {
				t.Fatalf("kill %d: completed run %s shows %d epochs, want 12", k, id, n)
			}
		}
		if k == kills-1 {
			t.Logf("after %d kills: %d runs visible, %d recorded", kills, len(got), len(st))
		}
	}
}

// BenchmarkFlushOfAGrowingRun measures a flush after every epoch of a run with 4,096
// units (a units row each per epoch): the cost of keeping a file readable as it grows.
//
//	go test ./pkg/results/writer -run '^$' -bench FlushOfAGrowingRun -benchtime 50x
func BenchmarkFlushOfAGrowingRun(b *testing.B) {
	FlushInterval, FlushBudget = time.Hour, 0
	sw, _ := OpenSweep(b.TempDir(), "s", []byte("name: s\n"))
	w, _ := sw.StartRun(sweep.Run{ID: "cc"})
	ep := func(e int) *train.Epoch {
		x := &train.Epoch{Epoch: e, Metrics: []train.Metric{{Split: "validation", Name: "loss", Value: 1 / float64(e)}}}
		for u := range 4096 {
			x.Units = append(x.Units, train.UnitStats{Layer: "encoder.0", Unit: u, MeanActivation: float64(e*u) * 1e-3, ActiveFraction: float64(u%97) / 97})
		}
		return x
	}
	var flush time.Duration
	for i := 0; i < b.N; i++ {
		w.Epoch(ep(i + 1))
		t0 := time.Now()
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		flush += time.Since(t0)
	}
	st, _ := os.Stat(filepath.Join(sw.Dir, results.UnitsTable, "cc.parquet"))
	b.ReportMetric(float64(st.Size())/1e6, "MB-final")
	b.ReportMetric(float64(flush.Microseconds())/1e3/float64(b.N), "ms/flush")
}
