package runner

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// Progress shows how a sweep is going. The progress of this package also has
// StartSweep (the runs about to train, before the first group) and EndSweep.
type Progress interface {
	StartGroup(i, n int, runs []sweep.Run, done, total int)
	Batch(epoch, batch, batches int)
	Epoch(k int, e *train.Epoch)
	EndGroup(outcomes []train.Outcome)
}

type sweepProgress interface {
	StartSweep(pending []sweep.Run)
	EndSweep()
}

// DefaultLogEvery is how often, at most, a log (not a terminal) gets a line about the
// runs training, unless Options.LogEvery says otherwise; every run also gets one line
// when it ends.
const DefaultLogEvery = 30 * time.Second

// NewProgress returns a sweep-wide bar with a line per finished run when w is a
// terminal, else a line per run when it ends (and, while it trains, one at most every
// logEvery: 0 means DefaultLogEvery, a negative value every epoch); quiet: only the
// runs that did not complete (warnings).
func NewProgress(w io.Writer, quiet bool, logEvery time.Duration) Progress {
	switch {
	case quiet:
		return &quietProgress{w: w}
	case isTerminal(w):
		return &barProgress{w: w}
	}
	if logEvery == 0 {
		logEvery = DefaultLogEvery
	}
	return &lineProgress{w: w, every: logEvery}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Num formats a metric for people: four significant digits, an exponent when the
// value is small or large (1e-05, never 0.0000), "nan" and "inf" as such.
func Num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// value returns the metric split/name of ms; ok is false when it has none.
func value(ms []train.Metric, split, name string) (float64, bool) {
	for _, m := range ms {
		if m.Split == split && m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// MetricsLine names an epoch's (or a run's final) numbers: train loss, validation loss
// (val) and, for sparse autoencoders, L0, FVU and the dead fraction of latents. A
// metric the run does not have is left out, never shown as 0.
func MetricsLine(ms []train.Metric) string {
	var parts []string
	for _, c := range []struct{ label, split, name string }{
		{"loss", "train", "loss"}, {"val", "validation", "loss"},
		{"L0", "validation", "l0"}, {"FVU", "validation", "fvu"}, {"dead", "validation", "dead_fraction"},
	} {
		if v, ok := value(ms, c.split, c.name); ok {
			parts = append(parts, c.label+" "+Num(v))
		}
	}
	return strings.Join(parts, "  ")
}

func runLabel(done, k, total int, r sweep.Run) string {
	return fmt.Sprintf("run %d/%d %s", done+k+1, total, r.ID)
}

// endLine is the line of a run that ended: its status, final numbers and time.
func endLine(label string, o train.Outcome, last *train.Epoch) string {
	ms := o.Final
	elapsed := ""
	if last != nil {
		if len(ms) == 0 {
			ms = last.Metrics
		}
		elapsed = fmt.Sprintf("  [%.1fs]", last.Elapsed)
	}
	s := fmt.Sprintf("%s %s", label, o.Status)
	if o.Status != train.StatusCompleted {
		s += fmt.Sprintf(" at epoch %d", o.Epochs)
	}
	if line := MetricsLine(ms); line != "" {
		s += "  " + line
	}
	s += elapsed
	if o.Message != "" {
		s += ": " + o.Message
	}
	return s
}

// group is what every display keeps of the group training now.
type group struct {
	runs        []sweep.Run
	done, total int
	epochs      int
	last        []*train.Epoch // each run's latest epoch
}

func (g *group) start(runs []sweep.Run, done, total int) {
	*g = group{runs: runs, done: done, total: total, epochs: runs[0].Spec.Train.Epochs, last: make([]*train.Epoch, len(runs))}
}

// lineProgress prints plain lines, for logs, CI and notebooks: one per run when it
// ends, and while it trains one at most every every (negative: every epoch; never
// when brief).
type lineProgress struct {
	w     io.Writer
	brief bool
	group
	every    time.Duration
	lastLine time.Time
}

func (p *lineProgress) StartGroup(i, n int, runs []sweep.Run, done, total int) {
	p.start(runs, done, total)
	p.lastLine = time.Now()
}

func (p *lineProgress) Batch(int, int, int) {}

func (p *lineProgress) Epoch(k int, e *train.Epoch) {
	p.last[k] = e
	if p.brief || e.Epoch >= p.epochs || time.Since(p.lastLine) < p.every || k != len(p.runs)-1 {
		return
	}
	// A group's runs report an epoch together: one line each, after the last.
	for j, r := range p.runs {
		if p.last[j] != nil {
			fmt.Fprintf(p.w, "%s epoch %d/%d  %s  [%.1fs]\n", runLabel(p.done, j, p.total, r), p.last[j].Epoch, p.epochs,
				MetricsLine(p.last[j].Metrics), p.last[j].Elapsed)
		}
	}
	p.lastLine = time.Now()
}

func (p *lineProgress) EndGroup(outcomes []train.Outcome) {
	for k, o := range outcomes {
		fmt.Fprintln(p.w, endLine(runLabel(p.done, k, p.total, p.runs[k]), o, p.last[k]))
	}
}

// quietProgress prints only the runs that did not complete (--quiet).
type quietProgress struct {
	w io.Writer
	group
}

func (p *quietProgress) StartGroup(i, n int, runs []sweep.Run, done, total int) {
	p.start(runs, done, total)
}
func (p *quietProgress) Batch(int, int, int)         {}
func (p *quietProgress) Epoch(k int, e *train.Epoch) { p.last[k] = e }
func (p *quietProgress) EndGroup(outcomes []train.Outcome) {
	for k, o := range outcomes {
		if o.Status != train.StatusCompleted {
			fmt.Fprintln(p.w, "warning: "+endLine(runLabel(p.done, k, p.total, p.runs[k]), o, p.last[k]))
		}
	}
}

// barProgress draws one bar for the whole sweep, in run-epochs (a group of 4 runs of 10
// epochs is 40), so that its ETA covers every group; each run gets a line above the
// bar when it ends.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	group
	total  int // run-epochs of the runs to train
	before int // run-epochs of the groups already trained
}

// barScale is the bar's units per run-epoch (batches move it between epochs).
const barScale = 1000

func (p *barProgress) StartSweep(pending []sweep.Run) {
	for _, r := range pending {
		p.total += r.Spec.Train.Epochs
	}
	p.bar = progressbar.NewOptions64(int64(max(p.total, 1))*barScale,
		progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("sweep"),
		progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish())
}

func (p *barProgress) StartGroup(i, n int, runs []sweep.Run, done, total int) {
	if p.bar == nil { // used without StartSweep: a bar for the runs left, as far as known
		p.StartSweep(runs)
	}
	p.start(runs, done, total)
	p.describe(0)
}

func (p *barProgress) describe(epoch int) {
	label := fmt.Sprintf("runs %d-%d/%d", p.done+1, p.done+len(p.runs), p.group.total)
	if len(p.runs) == 1 {
		label = runLabel(p.done, 0, p.group.total, p.runs[0])
	}
	if epoch > 0 {
		label += fmt.Sprintf(" epoch %d/%d", epoch, p.epochs)
	}
	p.bar.Describe(label)
}

func (p *barProgress) Batch(epoch, batch, batches int) {
	f := float64(epoch-1) + float64(batch)/float64(max(batches, 1))
	p.bar.Set64(int64((float64(p.before) + f*float64(len(p.runs))) * barScale))
}

func (p *barProgress) Epoch(k int, e *train.Epoch) {
	p.last[k] = e
	p.bar.Set64(int64(p.before+e.Epoch*len(p.runs)) * barScale)
	p.describe(e.Epoch)
}

func (p *barProgress) EndGroup(outcomes []train.Outcome) {
	p.bar.Clear()
	for k, o := range outcomes {
		fmt.Fprintln(p.w, endLine(runLabel(p.done, k, p.group.total, p.runs[k]), o, p.last[k]))
	}
	p.before += p.epochs * len(p.runs)
	p.bar.Set64(int64(p.before) * barScale)
}

func (p *barProgress) EndSweep() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// Finished is a run this invocation trained, and how it ended.
type Finished struct {
	Run     sweep.Run
	Outcome train.Outcome
}

// PrintBest prints, after a sweep, its best runs by the validation metric (FVU for
// sparse autoencoders, else the validation loss; lower is better), at most n, with
// their swept values; and for sparse autoencoders the L0–FVU frontier: the runs no
// other run beats on both. Runs without the metric (failed, or diverged at once) are
// left out.
func PrintBest(w io.Writer, runs []Finished, n int) {
	metric, label := "loss", "val"
	for _, f := range runs {
		if _, ok := value(f.Outcome.Final, "validation", "fvu"); ok {
			metric, label = "fvu", "FVU"
			break
		}
	}
	var ranked []Finished
	for _, f := range runs {
		if v, ok := value(f.Outcome.Final, "validation", metric); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			ranked = append(ranked, f)
		}
	}
	if len(ranked) == 0 {
		return
	}
	get := func(f Finished, name string) float64 { v, _ := value(f.Outcome.Final, "validation", name); return v }
	slices.SortStableFunc(ranked, func(a, b Finished) int {
		return cmpFloat(get(a, metric), get(b, metric))
	})
	fmt.Fprintf(w, "best %d of %d runs by validation %s (lower is better):\n", min(n, len(ranked)), len(runs), metric)
	printRunTable(w, ranked[:min(n, len(ranked))], label)
	if metric != "fvu" {
		return
	}
	var frontier []Finished
	for _, f := range ranked {
		if _, ok := value(f.Outcome.Final, "validation", "l0"); !ok {
			continue
		}
		dominated := false
		for _, g := range ranked {
			l0f, l0g, vf, vg := get(f, "l0"), get(g, "l0"), get(f, "fvu"), get(g, "fvu")
			if l0g <= l0f && vg <= vf && (l0g < l0f || vg < vf) {
				dominated = true
				break
			}
		}
		if !dominated {
			frontier = append(frontier, f)
		}
	}
	slices.SortStableFunc(frontier, func(a, b Finished) int { return cmpFloat(get(a, "l0"), get(b, "l0")) })
	if len(frontier) > 0 {
		fmt.Fprintf(w, "L0–FVU frontier (%d runs no other run beats on both, by L0):\n", len(frontier))
		printRunTable(w, frontier, label)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// printRunTable prints runs as an aligned table: id, their numbers, swept values.
func printRunTable(w io.Writer, runs []Finished, metricLabel string) {
	cols := []struct{ label, split, name string }{{"val", "validation", "loss"}}
	if metricLabel == "FVU" {
		cols = []struct{ label, split, name string }{{"FVU", "validation", "fvu"}, {"L0", "validation", "l0"}, {"dead", "validation", "dead_fraction"}, {"val", "validation", "loss"}}
	}
	header := []string{"run", "seed"}
	for _, c := range cols {
		header = append(header, c.label)
	}
	var params []string
	for _, f := range runs {
		for _, p := range f.Run.Params {
			if !slices.Contains(params, p.Path) {
				params = append(params, p.Path)
			}
		}
	}
	header = append(header, params...)
	rows := [][]string{header}
	for _, f := range runs {
		row := []string{f.Run.ID, strconv.FormatInt(f.Run.Seed, 10)}
		for _, c := range cols {
			if v, ok := value(f.Outcome.Final, c.split, c.name); ok {
				row = append(row, Num(v))
			} else {
				row = append(row, "-")
			}
		}
		for _, path := range params {
			cell := "-"
			for _, p := range f.Run.Params {
				if p.Path == path {
					cell = fmt.Sprint(p.Value)
					if x, ok := p.Value.(float64); ok {
						cell = Num(x)
					}
				}
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	widths := make([]int, len(header))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString(" ")
		for i, c := range r {
			b.WriteString(" ")
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))+1))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// backendHint is a line for a sweep that runs on the pure-Go backend only because no
// XLA plugin is installed (the backend was chosen automatically); "" otherwise.
func backendHint(requested, chosen string, pluginFound bool) string {
	if requested == "" {
		requested = os.Getenv("GOMLX_BACKEND")
	}
	if (requested == "" || requested == "auto") && chosen == "go" && !pluginFound {
		return "note: training on the pure-Go backend because XLA is not installed (often 20x slower); run scripts/setup.sh to install it, or pass --backend go to silence this"
	}
	return ""
}
