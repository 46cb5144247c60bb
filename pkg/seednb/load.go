package seednb

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
	"github.com/sparselab/saerun/pkg/trained"
)

// Loaded is a one-run spec's run, read back from its results folder: the run, its
// trained model, and whether this call trained it.
type Loaded struct {
	Sweep   *results.Sweep
	Run     results.Run
	Model   *trained.Model
	Trained bool // false: the run was already in the folder and was only read
}

// LoadOrTrain reads the run of specYAML (a spec of one run) from out/<name>, training
// it first only when it is missing there (the runner's --resume), so that every cell
// of a notebook reads the same trained model instead of training its own. Only
// warnings and the summary go to log. backend "" is the runner's default (XLA when
// installed).
func LoadOrTrain(ctx context.Context, specYAML, out, backend string, log io.Writer) (*Loaded, error) {
	if err := os.MkdirAll(out, 0o777); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(out, ".spec-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(specYAML); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	sum, err := runner.RunFile(ctx, f.Name(), runner.Options{Out: out, Backend: backend, Resume: true, Quiet: true, Log: log})
	if err != nil {
		return nil, err
	}
	if !sum.Finished() || sum.Runs != 1 {
		return nil, fmt.Errorf("seednb: %s: %d runs (want 1), %d diverged, %d failed, %d interrupted", sum.Dir, sum.Runs, sum.Diverged, sum.Failed, sum.Interrupt)
	}
	sw, err := results.Open(sum.Dir)
	if err != nil {
		return nil, err
	}
	runs, err := sw.Runs(results.Filter{})
	if err != nil {
		return nil, err
	}
	if len(runs) != 1 {
		return nil, fmt.Errorf("seednb: %s holds %d runs, want 1", filepath.Base(sum.Dir), len(runs))
	}
	m, err := trained.Load(sw, runs[0].RunID)
	if err != nil {
		return nil, err
	}
	return &Loaded{Sweep: sw, Run: runs[0], Model: m, Trained: sum.Skipped == 0}, nil
}

// Curve is the run's metric per epoch on split ("train" or "validation").
func (l *Loaded) Curve(split, metric string) ([]float64, error) {
	m, err := l.Sweep.Metrics(results.Filter{RunIDs: []string{l.Run.RunID}, Split: split, Metric: metric})
	if err != nil {
		return nil, err
	}
	c := m.Curve(l.Run.RunID, split, metric)
	if len(c.Values) == 0 {
		return nil, fmt.Errorf("seednb: run %s has no %s metric %q", l.Run.RunID, split, metric)
	}
	return c.Values, nil
}
