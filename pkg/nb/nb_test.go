package nb

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/baseline"
	"github.com/sparselab/saerun/pkg/runner"
)

func TestFindRootWalksUpToTheCheckoutElseTheEnvironment(t *testing.T) {
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module "+Module+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	seeds := filepath.Join(repo, "notebooks", "seeds")
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, env, want string }{
		{seeds, "", repo},          // a seed notebook's folder: two levels up
		{repo, "/elsewhere", repo}, // the checkout holding the notebook wins over the kernel's
		{other, repo, repo},        // outside a checkout (another module): the kernel's
	} {
		if got, err := findRoot(c.dir, c.env); err != nil || got != c.want {
			t.Errorf("findRoot(%s, %q) = %q, %v; want %s", c.dir, c.env, got, err, c.want)
		}
	}
	if _, err := findRoot(other, ""); err == nil || !strings.Contains(err.Error(), RootEnv) {
		t.Errorf("no checkout and no %s: %v", RootEnv, err)
	}
	if _, err := findRoot(other, other); err == nil {
		t.Error("a $SAERUN_ROOT that is another module was accepted")
	}
	// This test runs in pkg/nb of the checkout.
	if r := Root(); !isCheckout(r) || filepath.Base(filepath.Dir(filepath.Dir(mustWd(t)))) != filepath.Base(r) {
		t.Errorf("Root() = %s from %s", r, mustWd(t))
	}
}

func mustWd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestTheQuickSwitchShortensAndKeepsItsResultsApart(t *testing.T) {
	t.Setenv(ResultsEnv, "")
	for v, want := range map[string]bool{"": false, "0": false, "1": true} {
		t.Setenv(QuickEnv, v)
		if got, err := quick(); err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", QuickEnv, v, got, err, want)
		}
	}
	t.Setenv(QuickEnv, "0")
	if IfQuick("a=1") != nil || Mode() != "full length" || SeedsRoot() != filepath.Join(Root(), "results", "seeds") ||
		Out("x") != filepath.Join(Root(), "results", "x") {
		t.Errorf("full: IfQuick %v, Mode %q, SeedsRoot %s, Out %s", IfQuick("a=1"), Mode(), SeedsRoot(), Out("x"))
	}
	t.Setenv(QuickEnv, "1")
	if !slices.Equal(IfQuick("a=1"), []string{"a=1"}) || Mode() != "SHORTENED (SAERUN_SEEDS_QUICK=1)" ||
		SeedsRoot() != filepath.Join(Root(), "results", "seeds-quick") || Out("x") != filepath.Join(Root(), "results", "seeds-quick", "x") {
		t.Errorf("quick: IfQuick %v, Mode %q, SeedsRoot %s, Out %s", IfQuick("a=1"), Mode(), SeedsRoot(), Out("x"))
	}
	t.Setenv(ResultsEnv, "/elsewhere")
	if SeedsRoot() != "/elsewhere" || Out("x") != "/elsewhere/x" {
		t.Errorf("override: %s %s", SeedsRoot(), Out("x"))
	}
	t.Setenv(QuickEnv, "yes")
	if _, err := quick(); err == nil || !strings.Contains(err.Error(), QuickEnv) {
		t.Errorf("%s=yes: %v", QuickEnv, err)
	}
}

const twoRuns = `name: two
dataset: {name: digits, validation_fraction: 0.2, max_train_samples: 200, max_validation_samples: 60}
model: {encoder: [{units: 6, activation: sigmoid}], decoder: [{activation: sigmoid}]}
loss: mse
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 3, batch_size: 50, seed: 1}
regularizers: [{kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 0.1}]
record:
  units: {layers: [encoder.0], every: 2}
  activations: {layers: [encoder.0], samples: 10, every: 2}
  reconstructions: {samples: 4, every: 2}
sweep: {parameters: {regularizers.0.weight: {values: [0.1, 0.3]}}}
`

// inProcess replaces the project's command by the runner in this process (on the go
// backend), recording each call's arguments.
func inProcess(t *testing.T) *[][]string {
	t.Helper()
	var calls [][]string
	old := runCommand
	t.Cleanup(func() { runCommand = old })
	runCommand = func(root string, args []string) error {
		calls = append(calls, args)
		o := runner.Options{Backend: "go", Log: Log}
		for i := 0; i < len(args)-1; i++ {
			switch args[i] {
			case "--resume":
				o.Resume = true
			case "--brief":
				o.Brief = true
			case "--out":
				i++
				o.Out = args[i]
			case "--data-dir":
				i++
				o.DataDir = args[i]
			case "--set":
				i++
				o.Set = append(o.Set, args[i])
			default:
				return fmt.Errorf("unexpected argument %q in %q", args[i], args)
			}
		}
		sum, err := runner.RunFile(context.Background(), args[len(args)-1], o)
		if err == nil && !sum.Finished() {
			err = fmt.Errorf("%+v", sum)
		}
		return err
	}
	return &calls
}

func writeSpec(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func quietLog(t *testing.T) *bytes.Buffer {
	var b bytes.Buffer
	old := Log
	Log = &b
	t.Cleanup(func() { Log = old })
	return &b
}

// Open runs the spec (--resume --brief, with the overrides) only when runs are missing
// or damaged; when they are all there it only reads.
func TestOpenTrainsOnlyWhatIsMissingThenOnlyReads(t *testing.T) {
	calls := inProcess(t)
	log := quietLog(t)
	spec, out := writeSpec(t, twoRuns), t.TempDir()
	first := Open(spec, out, "train.epochs=2")
	if len(*calls) != 1 {
		t.Fatalf("%d runner calls, want 1", len(*calls))
	}
	args := strings.Join((*calls)[0], " ")
	if !strings.HasPrefix(args, "--resume --out "+out+" --brief") || !strings.Contains(args, "--set train.epochs=2") || !strings.HasSuffix(args, spec) {
		t.Errorf("runner arguments %q", args)
	}
	if n := strings.Count(log.String(), "\n"); n != 2 {
		t.Errorf("the runner's log has %d lines for 2 runs, want 2:\n%s", n, log.String())
	}
	if len(first.Runs()) != 2 || first.Name != "two" || first.Dir != filepath.Join(out, "two") {
		t.Fatalf("opened %+v", first)
	}
	second := Open(spec, out, "train.epochs=2")
	if len(*calls) != 1 || second.Runs()[1].RunID != first.Runs()[1].RunID {
		t.Errorf("reopening a finished sweep called the runner (%d calls)", len(*calls))
	}
	// A damaged file: not read, but handed to the runner, which runs a damaged run's
	// file again or, as here (a compacted part, the rows of both runs), says what to do.
	parts, _ := filepath.Glob(filepath.Join(out, "two", "metrics", "*.parquet"))
	if len(parts) == 0 || os.WriteFile(parts[0], []byte("not parquet"), 0o644) != nil {
		t.Fatalf("no metrics file to damage: %v", parts)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "is damaged") || len(*calls) != 2 {
				t.Errorf("damaged results: %d runner calls, want 2; %v", len(*calls), r)
			}
		}()
		Open(spec, out, "train.epochs=2")
	}()
	// Other overrides in the same folder: the runner's refusal, by name.
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "differs") {
				t.Errorf("another spec in the same folder: %v", r)
			}
		}()
		Open(spec, out, "train.epochs=3")
	}()
	// Verbose: the runner's whole log.
	Verbose = true
	defer func() { Verbose = false }()
	Open(spec, t.TempDir())
	if args := strings.Join((*calls)[len(*calls)-1], " "); strings.Contains(args, "--brief") {
		t.Errorf("verbose: %q", args)
	}
}

// The run's accessors read one epoch of its tables, the last recorded (epochs 2 and 3
// of 3 here), its curves over every epoch, its model and its baseline.
func TestARunReadsItsLastRecordedEpochCurvesModelAndBaseline(t *testing.T) {
	inProcess(t)
	quietLog(t)
	sw := Open(writeSpec(t, twoRuns), t.TempDir())
	r := sw.Runs()[1]
	if r.Label() != "weight=0.3" || r.Swept("regularizers.0.weight") != 0.3 {
		t.Errorf("label %q", r.Label())
	}
	if c := r.Curve("validation", "loss"); len(c) != 3 || c[2] != r.Metric("validation/loss") {
		t.Errorf("validation loss curve %v, final %v", c, r.Metric("validation/loss"))
	}
	if m := r.LastMetrics("validation"); len(m) == 0 || m[0].Epoch != 3 || m.Final("validation", "loss")[r.RunID] != r.Metric("validation/loss") {
		t.Errorf("last validation metrics %+v", m)
	}
	if !math.IsNaN(r.Metric("validation/nothing")) {
		t.Error("a metric the run lacks is not NaN")
	}
	if u := r.Units("encoder.0"); len(u) != 6 || u[0].Epoch != 3 || len(r.UnitMeans("encoder.0")) != 6 {
		t.Errorf("units %+v", u)
	}
	if v, n := r.ActivationValues("encoder.0"); n != 10 || len(v) != 60 || r.Activations("encoder.0")[0].Epoch != 3 {
		t.Errorf("%d activation values of %d samples", len(v), n)
	}
	if in, out := r.Images("reconstruction"); len(in) != 4 || len(out) != 4 || len(in[0]) != 64 {
		t.Errorf("images %d %d", len(in), len(out))
	}
	if m := r.Model(); m.Epoch != 3 || m.L != 6 || m.D != 64 {
		t.Errorf("model of epoch %d, %d -> %d", m.Epoch, m.D, m.L)
	}
	if d := r.Data(); d.Train.N != 200 || d.Validation.N != 60 || d.Validation.Dim != 64 {
		t.Errorf("the run's data: %d training and %d validation rows of %d", d.Train.N, d.Validation.N, d.Validation.Dim)
	}
	want, err := baseline.OfSpec(r.Config(), DataDir())
	if err != nil || r.Baseline() != want || !(r.Metric("validation/reconstruction") > 0) {
		t.Errorf("baseline %+v, want %+v (%v)", r.Baseline(), want, err)
	}
	set := r.Dataset("encoder.0")
	if !slices.Contains(set, fmt.Sprintf("dataset.where.run_id=%q", r.RunID)) || !slices.Contains(set, "dataset.where.epoch=3") ||
		!slices.Contains(set, "dataset.path="+filepath.Join(sw.Dir, "activations")) {
		t.Errorf("dataset overrides %q", set)
	}
	if len(sw.Completed()) != 2 {
		t.Errorf("%d completed runs", len(sw.Completed()))
	}
	for name, f := range map[string]func(){
		"no such metric": func() { r.Curve("validation", "nothing") },
		"no units":       func() { r.Units("decoder.0") },
		"not one run":    func() { sw.Only() },
		"not swept":      func() { r.Swept("train.epochs") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// The table has a row per run, its label and numbers beside the mean image's loss,
// and the extra metrics asked for; Table heads it with the sweep's name and folder.
func TestTableSetsEachRunBesideTheMeanImage(t *testing.T) {
	inProcess(t)
	log := quietLog(t)
	sw := Open(writeSpec(t, twoRuns), t.TempDir())
	log.Reset()
	sw.Mode = "MODE"
	sw.Table("l0/encoder.0")
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "two: 2 runs (2 completed) in ") || !strings.HasSuffix(lines[0], ", MODE") ||
		!strings.Contains(lines[1], "mean img") || !strings.Contains(lines[1], "l0/encoder.0") {
		t.Fatalf("table:\n%s", log.String())
	}
	r := sw.Runs()[0]
	f := strings.Fields(lines[2])
	if f[0] != "weight=0.1" || f[4] != fmt.Sprintf("%.4g", r.Baseline().Loss) || f[5] != fmt.Sprint(r.Metric("validation/reconstruction") < r.Baseline().Loss) ||
		f[6] != fmt.Sprintf("%.4g", r.Metric("validation/l0/encoder.0")) {
		t.Errorf("row %q", lines[2])
	}
}

// The real command, once: go run ./experiments in the checkout, one line per run.
func TestOpenRunsTheProjectsCommandWithOneLinePerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./experiments")
	}
	t.Setenv("GOMLX_BACKEND", "go")
	log := quietLog(t)
	sw := Open(writeSpec(t, strings.Replace(twoRuns, "epochs: 3", "epochs: 1", 1)), t.TempDir())
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(sw.Runs()) != 2 || len(lines) != 2 || !strings.HasPrefix(lines[0], "run 1/2 ") || !strings.Contains(lines[1], " completed  loss ") {
		t.Errorf("%d runs, log:\n%s", len(sw.Runs()), log.String())
	}
}

func TestShowChecksTheErrorAndIsSilentOutsideANotebook(t *testing.T) {
	Show([]byte("png"), nil) // outside GoNB: nothing to display, no panic
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "no figure") {
			t.Errorf("Show with an error: %v", r)
		}
	}()
	Show(nil, fmt.Errorf("no figure"))
}

func TestRowsCutsARowMajorMatrix(t *testing.T) {
	got := Rows([]float32{1, 2, 3, 4, 5, 6}, 3)
	if len(got) != 2 || !slices.Equal(got[1], []float32{4, 5, 6}) || cap(got[0]) != 3 {
		t.Errorf("Rows = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("5 values as rows of 2: no panic")
		}
	}()
	Rows(make([]float32, 5), 2)
}
