// Package seednb is what the seed-reproduction notebooks (notebooks/seeds/) share: the
// one switch between a full and a shortened run, where their results go, running a
// spec of experiments/seeds/ (resuming: a notebook re-run, or one run after
// scripts/reproduce.sh, only reads), and turning the weights table back into layers.
//
// The switch is the environment variable SAERUN_SEEDS_QUICK: unset or "0" runs the
// specs as written (results/seeds, the folder scripts/reproduce.sh fills); "1" runs
// them shortened for CI (QuickSet: 2 epochs on 2048 training and 1000 validation
// samples) into results/seeds-quick. SAERUN_SEEDS_RESULTS overrides the folder.
// scripts/notebooks.sh sets the switch to 1 unless told otherwise.
package seednb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sparselab/saerun/pkg/baseline"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/trained"
)

// Environment variables read here.
const (
	QuickEnv   = "SAERUN_SEEDS_QUICK"
	ResultsEnv = "SAERUN_SEEDS_RESULTS"
)

// QuickSet are the spec overrides (--set) of a shortened run.
var QuickSet = []string{"train.epochs=2", "dataset.max_train_samples=2048", "dataset.max_validation_samples=1000"}

// Quick reads the switch: false when SAERUN_SEEDS_QUICK is unset, empty or "0", true
// for "1"; any other value is an error naming the variable and its values.
func Quick() (bool, error) {
	switch v := os.Getenv(QuickEnv); v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want 1 (shortened run) or 0 / unset (full run)", QuickEnv, v)
	}
}

// Root is the results root of the seed runs: $SAERUN_SEEDS_RESULTS, else
// <repo>/results/seeds (full) or <repo>/results/seeds-quick (shortened).
func Root(repo string, quick bool) string {
	if d := os.Getenv(ResultsEnv); d != "" {
		return d
	}
	if quick {
		return filepath.Join(repo, "results", "seeds-quick")
	}
	return filepath.Join(repo, "results", "seeds")
}

// Run runs experiments/seeds/<name>.yaml of the checkout repo, full or shortened as the
// switch says, skipping runs already complete, and opens its results folder. Progress
// goes to log. It returns an error unless every run completed.
func Run(ctx context.Context, repo, name string, log io.Writer) (*results.Sweep, error) {
	return RunOn(ctx, repo, name, "", log)
}

// RunOn is Run on the given backend ("go", "xla", …; "" the runner's default).
func RunOn(ctx context.Context, repo, name, backend string, log io.Writer) (*results.Sweep, error) {
	quick, err := Quick()
	if err != nil {
		return nil, err
	}
	opts := runner.Options{Out: Root(repo, quick), DataDir: DataDir(repo), Backend: backend, Resume: true, Log: log, Progress: quiet{log}}
	if quick {
		opts.Set = QuickSet
	}
	sum, err := runner.RunFile(ctx, filepath.Join(repo, "experiments", "seeds", name+".yaml"), opts)
	if err != nil {
		return nil, err
	}
	if !sum.Finished() {
		return nil, fmt.Errorf("%s: %d runs diverged, %d failed, %d interrupted (see %s/runs)", name, sum.Diverged, sum.Failed, sum.Interrupt, sum.Dir)
	}
	mode := "full length"
	if quick {
		mode = fmt.Sprintf("SHORTENED (%s=1: %v)", QuickEnv, QuickSet)
	}
	fmt.Fprintf(log, "%s: %d runs (%d trained now, %d already done), %s, in %s\n", name, sum.Runs, sum.Runs-sum.Skipped, sum.Skipped, mode, sum.Dir)
	return results.Open(sum.Dir)
}

// Layers gathers one run's kernels and biases of one epoch (rows of the weights table)
// into layers by name.
func Layers(rows []results.WeightRow, runID string, epoch int) (map[string]results.LayerWeights, error) {
	out := map[string]results.LayerWeights{}
	for _, r := range rows {
		if r.RunID != runID || int(r.Epoch) != epoch {
			continue
		}
		lw := out[r.Layer]
		lw.Name = r.Layer
		switch r.Kind {
		case "kernel":
			if len(r.Shape) != 2 || int(r.Shape[0])*int(r.Shape[1]) != len(r.Values) {
				return nil, fmt.Errorf("seednb: run %s epoch %d layer %s: kernel shape %v for %d values", runID, epoch, r.Layer, r.Shape, len(r.Values))
			}
			lw.In, lw.Out, lw.Kernel = int(r.Shape[0]), int(r.Shape[1]), r.Values
		case "bias":
			lw.Bias = r.Values
		case "threshold":
			lw.Threshold = r.Values
		default:
			return nil, fmt.Errorf("seednb: run %s layer %s: unknown kind %q", runID, r.Layer, r.Kind)
		}
		out[r.Layer] = lw
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("seednb: no weights of run %s at epoch %d (does the spec set record.weights?)", runID, epoch)
	}
	return out, nil
}

// LastWeights reads run's weights at the last epoch that recorded them (every run
// keeps its final weights unless its spec set record.weights.every: 0), through
// trained.Load: its layers by name and that epoch.
func LastWeights(sw *results.Sweep, runID string) (map[string]results.LayerWeights, int, error) {
	m, err := trained.Load(sw, runID)
	if err != nil {
		return nil, 0, fmt.Errorf("seednb: %w", err)
	}
	out := map[string]results.LayerWeights{}
	for _, l := range m.Layers {
		out[l.Name] = l
	}
	return out, m.Epoch, nil
}

// DataDir is where the MNIST files are: $SAERUN_DATA_DIR, else <repo>/../shared/datasets
// when it exists (a notebook's working directory is its own folder, not the checkout's
// root, so data.DefaultDir's relative path would miss it), else data.DefaultDir().
func DataDir(repo string) string {
	if d := os.Getenv("SAERUN_DATA_DIR"); d != "" {
		return d
	}
	shared := filepath.Join(repo, "..", "shared", "datasets")
	if fi, err := os.Stat(shared); err == nil && fi.IsDir() {
		return shared
	}
	return data.DefaultDir()
}

// Baseline scores predicting the mean training image on run's own data (dataset,
// split and caps from its resolved config) with its loss: what the run must beat.
func Baseline(repo string, r results.Run) (baseline.Scores, error) {
	var cfg spec.Spec
	if err := json.Unmarshal([]byte(r.Config), &cfg); err != nil {
		return baseline.Scores{}, fmt.Errorf("seednb: run %s: config: %w", r.RunID, err)
	}
	full, err := data.Load(cfg.Dataset.Name, DataDir(repo))
	if err != nil {
		return baseline.Scores{}, err
	}
	d, err := specdata.Prepare(full, cfg.Dataset)
	if err != nil {
		return baseline.Scores{}, err
	}
	return baseline.MeanImage(d.Train, d.Validation, cfg.Loss)
}
