package runner

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// Progress shows how a sweep is going.
type Progress interface {
	StartGroup(i, n int, runs []sweep.Run, done, total int)
	Batch(epoch, batch, batches int)
	Epoch(k int, e *train.Epoch)
	EndGroup(outcomes []train.Outcome)
}

// NewProgress returns bars when w is a terminal, else one line per run per epoch.
func NewProgress(w io.Writer) Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w}
}

func groupLabel(runs []sweep.Run, done, total int) string {
	if len(runs) == 1 {
		return fmt.Sprintf("run %d/%d %s", done+1, total, runs[0].ID)
	}
	return fmt.Sprintf("runs %d-%d/%d", done+1, done+len(runs), total)
}

func metric(e *train.Epoch, split, name string) float64 {
	for _, m := range e.Metrics {
		if m.Split == split && m.Name == name {
			return m.Value
		}
	}
	return 0
}

// lineProgress prints plain lines: for logs, CI and notebooks.
type lineProgress struct {
	w      io.Writer
	runs   []sweep.Run
	done   int
	total  int
	epochs int
}

func (p *lineProgress) StartGroup(i, n int, runs []sweep.Run, done, total int) {
	p.runs, p.done, p.total, p.epochs = runs, done, total, runs[0].Spec.Train.Epochs
}

func (p *lineProgress) Batch(int, int, int) {}

func (p *lineProgress) Epoch(k int, e *train.Epoch) {
	fmt.Fprintf(p.w, "run %d/%d %s epoch %d/%d  train loss %.5g  validation loss %.5g  reconstruction %.5g  [%.1fs]\n",
		p.done+k+1, p.total, p.runs[k].ID, e.Epoch, p.epochs, metric(e, "train", "loss"),
		metric(e, "validation", "loss"), metric(e, "validation", "reconstruction"), e.Elapsed)
}

func (p *lineProgress) EndGroup(outcomes []train.Outcome) {
	for k, o := range outcomes {
		if o.Status != train.StatusCompleted {
			fmt.Fprintf(p.w, "run %d/%d %s %s: %s\n", p.done+k+1, p.total, p.runs[k].ID, o.Status, o.Message)
		}
	}
}

// barProgress draws one bar per group (epochs × batches) with the latest losses.
type barProgress struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	label  string
	epochs int
	loss   []float64
	runs   []sweep.Run
}

func (p *barProgress) StartGroup(i, n int, runs []sweep.Run, done, total int) {
	p.label, p.epochs, p.runs = groupLabel(runs, done, total), runs[0].Spec.Train.Epochs, runs
	p.loss = make([]float64, len(runs))
	p.bar = nil
}

func (p *barProgress) Batch(epoch, batch, batches int) {
	if p.bar == nil {
		p.bar = progressbar.NewOptions(p.epochs*batches,
			progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(p.label),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetWidth(30))
	}
	p.bar.Set((epoch-1)*batches + batch)
}

func (p *barProgress) Epoch(k int, e *train.Epoch) {
	p.loss[k] = metric(e, "validation", "loss")
	var parts []string
	for _, l := range p.loss {
		parts = append(parts, fmt.Sprintf("%.4g", l))
	}
	if len(parts) > 4 {
		parts = append(parts[:4], "…")
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s epoch %d/%d val loss %s", p.label, e.Epoch, p.epochs, strings.Join(parts, " ")))
	}
}

func (p *barProgress) EndGroup(outcomes []train.Outcome) {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
	for k, o := range outcomes {
		if o.Status != train.StatusCompleted {
			fmt.Fprintf(p.w, "%s: %s: %s\n", p.runs[k].ID, o.Status, o.Message)
		}
	}
}
