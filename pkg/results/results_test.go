package results_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// TestMain doubles as a compacting process for the kill test: with
// SAERUN_TEST_COMPACT set, the test binary compacts that folder and exits.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SAERUN_TEST_COMPACT"); dir != "" {
		if n, _ := strconv.Atoi(os.Getenv("SAERUN_TEST_COMPACT_STOP")); n > 0 {
			results.StopAt(n, []string{results.MetricsTable, results.RunsTable}, os.Getenv("SAERUN_TEST_COMPACT_RENAMES") == "", func(step string) {
				fmt.Print(step)
				os.Exit(9)
			})
		}
		if _, err := results.Compact(dir, results.CompactOptions{RowGroupRows: 100, FileBytes: 256 << 10}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestReaderAndWriterBuildWithoutXLAOrCgo(t *testing.T) {
	list := func(pkg string, env ...string) []string {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", pkg)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	heavy := func(line string) bool {
		return strings.Contains(line, "go-xla") || strings.Contains(line, "gomlx") || strings.Contains(line, "saerun/pkg/train")
	}
	// The check can fail: the runner links XLA.
	if !slices.ContainsFunc(list("github.com/sparselab/saerun/pkg/runner"), heavy) {
		t.Fatal("pkg/runner does not depend on go-xla: the check below proves nothing")
	}
	// The reader, the writer, and the plots drawn from what the reader reads.
	for _, pkg := range []string{"github.com/sparselab/saerun/pkg/results", "github.com/sparselab/saerun/pkg/results/writer", "github.com/sparselab/saerun/pkg/plots"} {
		for _, line := range list(pkg) {
			f := strings.Fields(line)
			if heavy(line) {
				t.Errorf("%s depends on %s", pkg, f[0])
			}
			if f[1] == "false" && f[2] != "0" {
				t.Errorf("%s depends on %s, which uses cgo", pkg, f[0])
			}
		}
	}
	// The standard library's net package (through parquet-go) has optional cgo; without
	// it, nothing is left that needs a C toolchain.
	for _, pkg := range []string{"github.com/sparselab/saerun/pkg/results", "github.com/sparselab/saerun/pkg/results/writer"} {
		for _, line := range list(pkg, "CGO_ENABLED=0") {
			if f := strings.Fields(line); f[0] == "runtime/cgo" || f[2] != "0" {
				t.Errorf("with CGO_ENABLED=0, %s still depends on %s", pkg, f[0])
			}
		}
	}
}

// fakeRun writes one run with epochs epochs through the writer, as the runner does.
func fakeRun(t *testing.T, sw *writer.Sweep, index int, status string, epochs int) string {
	t.Helper()
	id := fmt.Sprintf("%012x", 0xa00000+index*7919)
	run := sweep.Run{Index: index, ID: id, Seed: int64(index % 3),
		Params: []sweep.Param{{Path: "regularizers.0.weight", Value: 0.1 * float64(index)}, {Path: "model.encoder.0.activation", Value: "relu"}},
		Spec:   &spec.Spec{Record: spec.Record{Weights: spec.WeightsRecord{Every: 1}}}}
	w, err := sw.StartRun(run)
	if err != nil {
		t.Fatal(err)
	}
	var final []train.Metric
	for e := 1; e <= epochs; e++ {
		ep := &train.Epoch{Epoch: e, Elapsed: float64(e)}
		for _, split := range []string{"train", "validation"} {
			for k, name := range []string{"loss", "reconstruction", "l0/encoder.0"} {
				ep.Metrics = append(ep.Metrics, train.Metric{Split: split, Name: name, Value: float64(index) + float64(e)/10 + float64(k)/100})
			}
		}
		for u := range 3 {
			ep.Units = append(ep.Units, train.UnitStats{Layer: "encoder.0", Unit: u, MeanActivation: float64(u*e) / 10})
		}
		ep.Activations = []train.Activations{{Layer: "encoder.0", Index: []int{5, 9}, Labels: []int{1, 2},
			Vectors: [][]float32{{0, float32(e), 0, 2}, {1, 0, 0, float32(index)}}}}
		ep.Images = []train.Image{{Kind: "reconstruction", Sample: 0, Index: 5, Label: 1, Input: []float32{0, 1}, Output: []float32{0.1, 0.9}}}
		ep.Weights = []train.LayerWeights{{Name: "encoder.0", In: 2, Out: 1, Kernel: []float32{float32(e), float32(index)}, Bias: []float32{0.5}}}
		if err := w.Epoch(ep); err != nil {
			t.Fatal(err)
		}
		final = ep.Metrics
	}
	if err := w.Finish(train.Outcome{Status: status, Epochs: epochs, Final: final}, writer.Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	return id
}

// snapshot is every table of a sweep as the reader returns it.
type snapshot struct {
	Runs            results.Runs
	Metrics         results.Metrics
	Units           []results.UnitRow
	Activations     []results.ActivationRow
	Reconstructions []results.ImageRow
	Weights         []results.WeightRow
}

func read(t *testing.T, dir string) snapshot {
	t.Helper()
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s snapshot
	var errs [6]error
	s.Runs, errs[0] = sw.Runs(results.Filter{})
	s.Metrics, errs[1] = sw.Metrics(results.Filter{})
	s.Units, errs[2] = sw.Units(results.Filter{})
	s.Activations, errs[3] = sw.Activations(results.Filter{})
	s.Reconstructions, errs[4] = sw.Reconstructions(results.Filter{})
	s.Weights, errs[5] = sw.Weights(results.Filter{})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.Runs { // wall-clock times differ between the sweeps a test compares
		s.Runs[i].StartTime, s.Runs[i].EndTime, s.Runs[i].WallSeconds = time.Time{}, time.Time{}, 0
	}
	return s
}

func files(dir, table string) []string {
	f, _ := filepath.Glob(filepath.Join(dir, table, "*.parquet"))
	for i := range f {
		f[i] = filepath.Base(f[i])
	}
	return f
}

func newSweep(t *testing.T) (*writer.Sweep, string) {
	sw, err := writer.OpenSweep(t.TempDir(), "s", []byte("name: s\n"))
	if err != nil {
		t.Fatal(err)
	}
	return sw, sw.Dir
}

func TestReaderTypedTablesFiltersAndHelpers(t *testing.T) {
	w, dir := newSweep(t)
	a := fakeRun(t, w, 1, results.StatusCompleted, 3)
	b := fakeRun(t, w, 2, results.StatusCompleted, 3)
	sw, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(sw.Spec) != "name: s\n" {
		t.Errorf("spec %q", sw.Spec)
	}
	runs, err := sw.Runs(results.Filter{})
	if err != nil || len(runs) != 2 || runs[0].RunID != a || runs[1].RunID != b {
		t.Fatalf("runs %v %v", runs.IDs(), err)
	}
	if v, ok := runs[1].Param("regularizers.0.weight"); !ok || v != 0.2 {
		t.Errorf("weight %v %v", v, ok)
	}
	if v := runs[1].Params["model.encoder.0.activation"]; v != "relu" {
		t.Errorf("activation %v", v)
	}
	if got := runs.ParamNames(); !reflect.DeepEqual(got, []string{"model.encoder.0.activation", "regularizers.0.weight"}) {
		t.Errorf("param names %v", got)
	}
	if v, ok := runs[0].Final("validation/reconstruction"); !ok || math.Abs(v-1.31) > 1e-12 {
		t.Errorf("final reconstruction %v %v", v, ok)
	}
	if _, ok := runs[0].Final("validation/nothing"); ok {
		t.Error("a metric the run lacks has a final value")
	}
	m, err := sw.Metrics(results.Filter{RunIDs: []string{b}, Split: "validation", Metric: "reconstruction", Epochs: []int{1, 3}})
	if err != nil || len(m) != 2 || m[0].Epoch != 1 || m[1].Epoch != 3 || m[0].RunID != b {
		t.Fatalf("filtered metrics %+v %v", m, err)
	}
	all, _ := sw.Metrics(results.Filter{})
	if c := all.Curve(a, "train", "loss"); !reflect.DeepEqual(c.Epochs, []int{1, 2, 3}) || c.Values[2] != 1.3 {
		t.Errorf("curve %+v", c)
	}
	if f := all.Final("validation", "l0/encoder.0"); len(f) != 2 || f[b] != 2.32 {
		t.Errorf("final l0 %v", f)
	}
	acts, err := sw.Activations(results.Filter{Epochs: []int{2}, Layer: "encoder.0"})
	if err != nil || len(acts) != 4 || acts[0].Activation[1] != 2 || acts[1].ValidationIndex != 9 {
		t.Errorf("activations %+v %v", acts, err)
	}
	if units, err := sw.Units(results.Filter{RunIDs: []string{a}, Layer: "other"}); err != nil || len(units) != 0 {
		t.Errorf("units of another layer %v %v", units, err)
	}
}

func TestOpenRefusesAFolderThatIsNotASweep(t *testing.T) {
	if _, err := results.Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a sweep") {
		t.Errorf("got %v", err)
	}
	if _, err := results.Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing folder opened")
	}
}

func TestCompactMergesFinishedRunsKeepsTheOthersAndIsIdempotent(t *testing.T) {
	w, dir := newSweep(t)
	for i := range 6 {
		fakeRun(t, w, i, results.StatusCompleted, 3)
	}
	fakeRun(t, w, 6, results.StatusDiverged, 2)
	failed := fakeRun(t, w, 7, results.StatusFailed, 0)
	interrupted := fakeRun(t, w, 8, results.StatusInterrupted, 1)
	before := read(t, dir)

	// Small row groups and files, so that the sizing is exercised.
	opts := results.CompactOptions{RowGroupRows: 40, FileBytes: 8 << 10}
	tables, err := results.Compact(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != len(results.Tables) {
		t.Errorf("compacted %+v", tables)
	}
	after := read(t, dir)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("the reader returns other rows after compaction")
	}
	for _, table := range results.Tables {
		var parts, loose []string
		for _, f := range files(dir, table) {
			if strings.HasPrefix(f, "part-") {
				parts = append(parts, f)
			} else {
				loose = append(loose, f)
			}
		}
		// Unfinished runs keep their own files, so that --resume replaces them; a
		// failed run has none but its runs/ row.
		wantLoose := []string{interrupted + ".parquet"}
		if table == results.RunsTable {
			wantLoose = []string{failed + ".parquet", interrupted + ".parquet"}
		}
		if len(parts) == 0 || !slices.Equal(loose, wantLoose) {
			t.Errorf("%s: parts %v, per-run files %v (want %v)", table, parts, loose, wantLoose)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".compact*")); len(left) != 0 {
		t.Errorf("left %v", left)
	}

	// Again: nothing to merge, nothing changes.
	stamp := map[string]time.Time{}
	for _, table := range results.Tables {
		for _, f := range files(dir, table) {
			st, _ := os.Stat(filepath.Join(dir, table, f))
			stamp[table+"/"+f] = st.ModTime()
		}
	}
	if _, err := results.Compact(dir, opts); err != nil {
		t.Fatal(err)
	}
	for _, table := range results.Tables {
		for _, f := range files(dir, table) {
			if st, _ := os.Stat(filepath.Join(dir, table, f)); stamp[table+"/"+f] != st.ModTime() {
				t.Errorf("second compaction rewrote %s/%s", table, f)
			}
			delete(stamp, table+"/"+f)
		}
	}
	if len(stamp) != 0 {
		t.Errorf("second compaction removed %v", stamp)
	}

	// --resume re-runs the unfinished runs into per-run files; compacting merges them
	// in run-id order with the parts.
	fakeRun(t, w, 7, results.StatusCompleted, 3)
	fakeRun(t, w, 8, results.StatusCompleted, 3)
	resumed := read(t, dir)
	if _, err := results.Compact(dir, opts); err != nil {
		t.Fatal(err)
	}
	if again := read(t, dir); !reflect.DeepEqual(resumed, again) {
		t.Error("the reader returns other rows after the second compaction")
	}
	for _, table := range results.Tables {
		for _, f := range files(dir, table) {
			if !strings.HasPrefix(f, "part-") {
				t.Errorf("%s: per-run file %s left after every run finished", table, f)
			}
		}
	}
	// Rows are stored sorted by run id and epoch.
	var stored results.Metrics
	for _, f := range files(dir, results.MetricsTable) {
		rows, err := readRaw(filepath.Join(dir, results.MetricsTable, f))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, rows...)
	}
	if !slices.IsSortedFunc(stored, func(a, b results.MetricRow) int {
		return strings.Compare(fmt.Sprintf("%s %04d", a.RunID, a.Epoch), fmt.Sprintf("%s %04d", b.RunID, b.Epoch))
	}) || len(stored) != len(resumed.Metrics) {
		t.Errorf("stored metrics are not sorted by run id and epoch (%d rows)", len(stored))
	}
}

func TestCompactRefusesWhileARunnerWrites(t *testing.T) {
	w, dir := newSweep(t)
	fakeRun(t, w, 1, results.StatusCompleted, 1)
	lock, err := results.LockForWriting(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := results.Compact(dir, results.CompactOptions{}); err == nil || !strings.Contains(err.Error(), "runner is writing") {
		t.Errorf("compaction during a run: %v", err)
	}
	if f := files(dir, results.MetricsTable); len(f) != 1 || strings.HasPrefix(f[0], "part-") {
		t.Errorf("refused compaction changed the files: %v", f)
	}
	lock.Release()
	if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
		t.Errorf("after the runner ended: %v", err)
	}
}

func TestAKilledSwitchIsFinishedOrUndoneAndReadersSeeOneLayout(t *testing.T) {
	w, dir := newSweep(t)
	for i := range 4 {
		fakeRun(t, w, i, results.StatusCompleted, 2)
	}
	want := read(t, dir)
	compacted := t.TempDir()
	os.CopyFS(compacted, os.DirFS(dir))
	if _, err := results.Compact(compacted, results.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	metrics, cd := filepath.Join(dir, "metrics"), filepath.Join(dir, ".compact")
	os.MkdirAll(cd, 0o755)

	// Killed between the two renames of a switch without RENAME_EXCHANGE, with the new
	// folder complete: readers read it; the next runner finishes the switch.
	os.Rename(metrics, filepath.Join(cd, "metrics.old"))
	os.CopyFS(filepath.Join(cd, "metrics.new"), os.DirFS(filepath.Join(compacted, "metrics")))
	os.WriteFile(filepath.Join(cd, "metrics.ready"), nil, 0o644)
	if got := read(t, dir); !reflect.DeepEqual(got, want) {
		t.Error("mid-switch, the reader does not read the new folder")
	}
	lock, err := results.LockForWriting(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	if f := files(dir, "metrics"); len(f) != 1 || !strings.HasPrefix(f[0], "part-") {
		t.Errorf("switch not finished: %v", f)
	}
	if _, err := os.Stat(cd); err == nil {
		t.Error(".compact left")
	}
	if got := read(t, dir); !reflect.DeepEqual(got, want) {
		t.Error("rows changed by the recovery")
	}

	// Killed after moving the old folder aside, before the new one was complete: undone.
	os.MkdirAll(filepath.Join(cd, "metrics.new"), 0o755)
	os.Rename(metrics, filepath.Join(cd, "metrics.old"))
	lock, err = results.LockForWriting(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	if got := read(t, dir); !reflect.DeepEqual(got, want) {
		t.Error("rows changed by undoing the switch")
	}
}

// Every step of a table's compaction is tried on the first table and the last (the
// others go through the same steps).
func TestACompactionStoppedAtAnyStepLeavesEveryRowExactlyOnce(t *testing.T) {
	w, template := newSweep(t)
	for i := range 3 {
		fakeRun(t, w, i, results.StatusCompleted, 2)
	}
	fakeRun(t, w, 3, results.StatusInterrupted, 1)
	want := read(t, template)
	for _, renames := range []string{"", "1"} { // atomic exchange; two renames
		steps := 0
		for n := 1; ; n++ {
			dir := filepath.Join(t.TempDir(), "s")
			if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SAERUN_TEST_COMPACT="+dir, fmt.Sprintf("SAERUN_TEST_COMPACT_STOP=%d", n), "SAERUN_TEST_COMPACT_RENAMES="+renames)
			out, err := cmd.Output()
			if err == nil {
				break // finished before step n
			}
			steps++
			if got := read(t, dir); !reflect.DeepEqual(got, want) {
				t.Errorf("stopped after %q (renames=%q): the reader returns other rows", out, renames)
			}
			for _, table := range results.Tables {
				f := files(dir, table)
				if slices.ContainsFunc(f, func(n string) bool { return strings.HasPrefix(n, "part-") }) && len(f) > 2 {
					t.Errorf("stopped after %q: %s holds parts and per-run files of finished runs: %v", out, table, f)
				}
			}
			if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
				t.Fatalf("compaction after a stop at %q: %v", out, err)
			}
			if got := read(t, dir); !reflect.DeepEqual(got, want) {
				t.Errorf("stopped after %q, compacted again: the reader returns other rows", out)
			}
		}
		t.Logf("renames=%q: stopped at each of %d steps", renames, steps)
		if steps < 2*5 {
			t.Errorf("renames=%q: only %d steps", renames, steps)
		}
	}
}

func TestSIGKILLDuringCompactionLeavesEveryRowExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills compactions")
	}
	w, template := newSweep(t)
	for i := range 12 {
		fakeRun(t, w, i, results.StatusCompleted, 3)
	}
	want := read(t, template)
	compactor := func(dir string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SAERUN_TEST_COMPACT="+dir)
		return cmd
	}
	// How long a whole compaction takes (process start included), to spread the kills over.
	fresh := func() string {
		dir := filepath.Join(t.TempDir(), "s")
		if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	start := time.Now()
	if out, err := compactor(fresh()).CombinedOutput(); err != nil {
		t.Fatalf("compaction: %v\n%s", err, out)
	}
	whole := time.Since(start)
	kills, mid := 0, 0
	for attempt := range 10 {
		dir := fresh()
		cmd := compactor(dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(whole * time.Duration(attempt) / 10)
		cmd.Process.Kill()
		if err := cmd.Wait(); err != nil && strings.Contains(err.Error(), "killed") {
			kills++
		}
		if _, err := os.Stat(filepath.Join(dir, ".compact")); err == nil {
			mid++
		}
		// Whatever the moment of the kill, the reader sees every row exactly once, and
		// the next compaction recovers and finishes.
		if got := read(t, dir); !reflect.DeepEqual(got, want) {
			t.Fatalf("after a kill at %d/10 of a compaction, the rows differ", attempt)
		}
		if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := read(t, dir); !reflect.DeepEqual(got, want) {
			t.Fatalf("after a kill at %d/10 of a compaction and a new compaction, the rows differ", attempt)
		}
	}
	t.Logf("compaction %v; %d kills landed, %d mid-compaction", whole, kills, mid)
	if kills < 5 || mid < 3 {
		t.Fatalf("only %d kills landed, %d of them mid-compaction", kills, mid)
	}
}

func readRaw(path string) ([]results.MetricRow, error) {
	return parquet.ReadFile[results.MetricRow](path)
}

func TestARunnerWaitsForACompaction(t *testing.T) {
	w, dir := newSweep(t)
	fakeRun(t, w, 1, results.StatusCompleted, 1)
	compaction, err := results.LockExclusive(dir)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	got := make(chan *results.Lock)
	go func() {
		l, err := results.LockForWriting(dir, &log)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("a runner started while the folder was being compacted")
	case <-time.After(200 * time.Millisecond):
	}
	compaction.Release()
	select {
	case l := <-got:
		l.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("the runner did not start after the compaction ended")
	}
	if !strings.Contains(log.String(), "waiting") {
		t.Errorf("the runner did not say it waits: %q", log.String())
	}
}

// A weights table whose rows hold large matrices (an SAE's: 8 MiB and more) compacts
// without decoding them into rows: its large row groups are copied whole, so the
// tables read the same after compaction and compaction allocates a fraction of what
// decoded rows take (24 bytes a value).
func TestCompactCopiesLargeWeightRowGroupsWithoutDecodingThem(t *testing.T) {
	w, dir := newSweep(t)
	const in, out = 1024, 1024 // 4 MiB kernels
	for i := range 3 {
		id := fmt.Sprintf("%012x", 0xb00000+i)
		run := sweep.Run{Index: i, ID: id, Spec: &spec.Spec{Record: spec.Record{Weights: spec.WeightsRecord{Every: 1}}}}
		rw, err := w.StartRun(run)
		if err != nil {
			t.Fatal(err)
		}
		kernel := make([]float32, in*out)
		for j := range kernel {
			kernel[j] = float32(i) + float32(j%977)/977
		}
		ep := &train.Epoch{Epoch: 1, Metrics: []train.Metric{{Split: "train", Name: "loss", Value: float64(i)}},
			Weights: []train.LayerWeights{{Name: "encoder.0", In: in, Out: out, Kernel: kernel, Bias: make([]float32, out)},
				{Name: "decoder.0", In: out, Out: in, Kernel: kernel, Bias: make([]float32, in)}}}
		if err := rw.Epoch(ep); err != nil {
			t.Fatal(err)
		}
		if err := rw.Finish(train.Outcome{Status: results.StatusCompleted, Epochs: 1, Final: ep.Metrics}, writer.Backend{Name: "go"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	before := read(t, dir)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	if _, err := results.Compact(dir, results.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if after := read(t, dir); !reflect.DeepEqual(before, after) {
		t.Errorf("the reader returns other rows after compaction")
	}
	// Decoded, the 6 kernels alone would be 6 × 1M values × 24 bytes = 144 MiB.
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 48<<20 {
		t.Errorf("compaction allocated %d MiB", got>>20)
	}
	if parts := files(dir, results.WeightsTable); len(parts) != 1 || !strings.HasPrefix(parts[0], "part-") {
		t.Errorf("weights files after compaction: %v", parts)
	}
}
