package runner

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

func TestNumbersKeepTheirDigitsAndSmallValuesStayVisible(t *testing.T) {
	for v, want := range map[float64]string{
		1e-5: "1e-05", 0: "0", 0.012345: "0.01235", 0.5: "0.5", 123456: "1.235e+05", -2.5e-7: "-2.5e-07",
		math.NaN(): "nan", math.Inf(1): "inf", 12: "12",
	} {
		if got := Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
}

func ms(kv ...any) []train.Metric {
	var out []train.Metric
	for i := 0; i < len(kv); i += 2 {
		split, name, _ := strings.Cut(kv[i].(string), "/")
		out = append(out, train.Metric{Split: split, Name: name, Value: kv[i+1].(float64)})
	}
	return out
}

func TestMetricsLineNamesEachNumberAndLeavesOutMissingOnes(t *testing.T) {
	ae := MetricsLine(ms("train/loss", 0.5, "validation/loss", 0.25, "validation/reconstruction", 0.2))
	if ae != "loss 0.5  val 0.25" {
		t.Errorf("autoencoder line %q", ae)
	}
	sae := MetricsLine(ms("train/loss", 0.01, "validation/loss", 0.012, "validation/l0", 31.5, "validation/fvu", 1e-5, "validation/dead_fraction", 0.125))
	if sae != "loss 0.01  val 0.012  L0 31.5  FVU 1e-05  dead 0.125" {
		t.Errorf("sparse autoencoder line %q", sae)
	}
}

func runsOf(n, epochs int) []sweep.Run {
	s := &spec.Spec{}
	s.Train.Epochs = epochs
	var rs []sweep.Run
	for i := range n {
		rs = append(rs, sweep.Run{ID: strings.Repeat(string(rune('a'+i)), 12), Index: i, Spec: s,
			Params: []sweep.Param{{Path: "model.sae.k", Value: 8 * (i + 1)}, {Path: "regularizers.0.weight", Value: 1e-5 * float64(i+1)}}})
	}
	return rs
}

func feed(p Progress, runs []sweep.Run, outcomes []train.Outcome) {
	p.StartGroup(0, 1, runs, 0, len(runs))
	epochs := runs[0].Spec.Train.Epochs
	for e := 1; e <= epochs; e++ {
		for b := 1; b <= 3; b++ {
			p.Batch(e, b, 3)
		}
		for k := range runs {
			p.Epoch(k, &train.Epoch{Epoch: e, Elapsed: float64(e), Metrics: ms("train/loss", 1/float64(e), "validation/loss", 1.1/float64(e))})
		}
	}
	p.EndGroup(outcomes)
}

func TestALogGetsOneLinePerFinishedRunNotOnePerEpoch(t *testing.T) {
	runs := runsOf(3, 20)
	done := []train.Outcome{{Status: train.StatusCompleted, Epochs: 20, Final: ms("validation/loss", 0.055)},
		{Status: train.StatusCompleted, Epochs: 20}, {Status: train.StatusDiverged, Epochs: 4, Message: "loss became NaN"}}
	var b bytes.Buffer
	feed(NewProgress(&b, false, 0), runs, done)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines for 3 runs of 20 epochs, want 3:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[0], "run 1/3 aaaaaaaaaaaa completed  val 0.055") || !strings.Contains(lines[2], "diverged at epoch 4") ||
		!strings.Contains(lines[2], "loss became NaN") || !strings.Contains(lines[1], "loss 0.05  val 0.055  [20.0s]") {
		t.Errorf("lines:\n%s", b.String())
	}
	// Asked for a line at every epoch (--log-every 0), each run of the group gets one.
	b.Reset()
	feed(NewProgress(&b, false, -1), runs, done)
	if n := strings.Count(b.String(), "\n"); n != 3*19+3 {
		t.Errorf("with a line at every epoch: %d lines, want %d", n, 3*19+3)
	}
}

func TestQuietPrintsOnlyTheRunsThatDidNotComplete(t *testing.T) {
	var b bytes.Buffer
	feed(NewProgress(&b, true, 0), runsOf(2, 5), []train.Outcome{{Status: train.StatusCompleted, Epochs: 5},
		{Status: train.StatusFailed, Message: "out of memory"}})
	if got := b.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "warning: run 2/2 bbbbbbbbbbbb failed") || !strings.Contains(got, "out of memory") {
		t.Errorf("quiet printed %q", got)
	}
}

func TestTheBarCoversTheWholeSweepAndPrintsALinePerRun(t *testing.T) {
	var b bytes.Buffer
	p := &barProgress{w: &b}
	first, second := runsOf(2, 10), runsOf(1, 20)
	p.StartSweep(append(append([]sweep.Run{}, first...), second...))
	if p.bar.GetMax64() != 40*barScale {
		t.Fatalf("bar of %d units, want 40 run-epochs", p.bar.GetMax64())
	}
	feed(p, first, []train.Outcome{{Status: train.StatusCompleted}, {Status: train.StatusCompleted}})
	if got := p.bar.State().CurrentPercent; math.Abs(got-0.5) > 1e-9 {
		t.Errorf("after the first group (20 of 40 run-epochs) the bar is at %v", got)
	}
	if !strings.Contains(b.String(), "run 2/2 bbbbbbbbbbbb completed  loss 0.1  val 0.11") {
		t.Errorf("no line for the run:\n%q", b.String())
	}
}

func TestBestRunsAreRankedByTheValidationMetricWithTheL0FVUFrontier(t *testing.T) {
	runs := runsOf(5, 1)
	point := func(l0, fvu float64) train.Outcome {
		return train.Outcome{Status: train.StatusCompleted, Final: ms("validation/l0", l0, "validation/fvu", fvu, "validation/loss", fvu*2, "validation/dead_fraction", 0.0)}
	}
	var fin []Finished
	for i, o := range []train.Outcome{point(10, 0.3), point(20, 0.2), point(30, 0.25), point(5, 0.5), {Status: train.StatusFailed}} {
		fin = append(fin, Finished{Run: runs[i], Outcome: o})
	}
	var b bytes.Buffer
	PrintBest(&b, fin, 3)
	out := b.String()
	best, frontier, ok := strings.Cut(out, "L0–FVU frontier")
	if !ok || !strings.HasPrefix(best, "best 3 of 5 runs by validation fvu") {
		t.Fatalf("summary:\n%s", out)
	}
	order := func(s string, ids ...string) bool {
		at := -1
		for _, id := range ids {
			i := strings.Index(s, id)
			if i <= at {
				return false
			}
			at = i
		}
		return true
	}
	if !order(best, "bbbb", "cccc", "aaaa") || strings.Contains(best, "dddd") || strings.Contains(best, "eeee") {
		t.Errorf("best runs by FVU:\n%s", best)
	}
	if !order(frontier, "dddd", "aaaa", "bbbb") || strings.Contains(frontier, "cccc") || strings.Contains(frontier, "eeee") {
		t.Errorf("frontier (c is beaten by b on both):\n%s", frontier)
	}
	// The swept values are columns, small ones in exponent form.
	if !strings.Contains(out, "model.sae.k") || !strings.Contains(out, "2e-05") || strings.Contains(out, "0.0000") {
		t.Errorf("swept values:\n%s", out)
	}
	// An autoencoder sweep is ranked by validation loss and has no frontier.
	b.Reset()
	PrintBest(&b, []Finished{{runs[0], train.Outcome{Final: ms("validation/loss", 0.2)}}, {runs[1], train.Outcome{Final: ms("validation/loss", 0.1)}}}, 5)
	if out := b.String(); !strings.HasPrefix(out, "best 2 of 2 runs by validation loss") || strings.Contains(out, "frontier") || !order(out, "bbbb", "aaaa") {
		t.Errorf("autoencoder summary:\n%s", out)
	}
	// Nothing finished with a metric: nothing printed.
	b.Reset()
	PrintBest(&b, fin[4:], 5)
	if b.Len() != 0 {
		t.Errorf("summary of failed runs only: %q", b.String())
	}
}

func TestTheXLAHintOnlyWhenAutoFellBackForLackOfAPlugin(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	for _, c := range []struct {
		requested, chosen string
		found, hint       bool
	}{
		{"", "go", false, true}, {"auto", "go", false, true},
		{"go", "go", false, false},   // asked for
		{"auto", "xla", true, false}, // XLA runs
		{"auto", "go", true, false},  // a plugin that failed to load: the backend says why
	} {
		h := backendHint(c.requested, c.chosen, c.found)
		if (h != "") != c.hint || (c.hint && !strings.Contains(h, "scripts/setup.sh")) {
			t.Errorf("%+v: hint %q", c, h)
		}
	}
	t.Setenv("GOMLX_BACKEND", "go")
	if h := backendHint("", "go", false); h != "" {
		t.Errorf("GOMLX_BACKEND=go asked for the go backend: hint %q", h)
	}
}

func TestQuietSweepLogsOnlyTheSummary(t *testing.T) {
	out := t.TempDir()
	o := opts(out)
	o.Quiet = true
	var log bytes.Buffer
	o.Log = &log
	if _, err := RunFile(context.Background(), writeSpec(t, sweepSpec), o); err != nil {
		t.Fatal(err)
	}
	got := log.String()
	if !strings.HasPrefix(got, "best 4 of 4 runs by validation loss") || strings.Contains(got, "sweep small") ||
		strings.Contains(got, "epoch") || strings.Contains(got, "results:") || strings.Contains(got, "note:") {
		t.Errorf("quiet log:\n%s", got)
	}
	// Not quiet: the sweep line, a line per run, the summary.
	o.Quiet, o.Resume = false, false
	log.Reset()
	o.Out = t.TempDir()
	if _, err := RunFile(context.Background(), writeSpec(t, sweepSpec), o); err != nil {
		t.Fatal(err)
	}
	if got := log.String(); !strings.Contains(got, "sweep small: 4 runs") || strings.Count(got, " completed  loss ") != 4 || !strings.Contains(got, "best 4 of 4") {
		t.Errorf("log:\n%s", got)
	}
}

// Brief (what a notebook asks for): exactly one line per run, when it ends, even when
// lines at every epoch are asked for; nothing else, neither the sweep line nor the
// best runs nor the size report.
func TestBriefLogsOneLinePerRunAndNothingElse(t *testing.T) {
	o := opts(t.TempDir())
	o.LogEvery = -1 // a line per epoch, were it not brief
	o.Brief = true
	var log bytes.Buffer
	o.Log = &log
	sum, err := RunFile(context.Background(), writeSpec(t, sweepSpec), o)
	if err != nil || sum.Completed != 4 {
		t.Fatalf("%+v %v\n%s", sum, err, log.String())
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines for 4 runs, want 4:\n%s", len(lines), log.String())
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf("run %d/4 ", i+1)) || !strings.Contains(l, " completed  loss ") {
			t.Errorf("line %d: %q", i+1, l)
		}
	}
	// Resumed with every run done: not a line.
	log.Reset()
	o.Resume = true
	if sum, err := RunFile(context.Background(), writeSpec(t, sweepSpec), o); err != nil || sum.Skipped != 4 || log.Len() != 0 {
		t.Errorf("resume of a finished sweep: %+v %v, log %q", sum, err, log.String())
	}
}
