// Command baseline prints, for every run of the given sweep folders, the validation
// scores of predicting the mean training image (pkg/baseline) on that run's data: its
// dataset, split and caps and its loss, read from the run's resolved config in runs/.
// experiments/seeds/report.py runs it for its baseline columns.
//
//	go run ./experiments/seeds/baseline [--data-dir DIR] RESULTS_DIR...
//
// Output (stdout): one JSON object a line,
// {"run_id", "dir", "loss_kind", "loss", "mape", "mape_seed", "train", "validation"};
// a score that is undefined is null. Errors go to stderr, exit status 1.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/sparselab/saerun/pkg/baseline"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/spec"
)

type row struct {
	RunID      string   `json:"run_id"`
	Dir        string   `json:"dir"`
	LossKind   string   `json:"loss_kind"`
	Loss       *float64 `json:"loss"`
	MAPE       *float64 `json:"mape"`
	MAPESeed   *float64 `json:"mape_seed"`
	Train      int      `json:"train"`
	Validation int      `json:"validation"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func main() {
	dataDir := flag.String("data-dir", "", "folder with mnist/ and fashion-mnist/ (default $SAERUN_DATA_DIR, ../shared/datasets, or the user cache)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./experiments/seeds/baseline [--data-dir DIR] RESULTS_DIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Args(), *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(dirs []string, dataDir string) error {
	if dataDir == "" {
		dataDir = data.DefaultDir()
	}
	type scored struct {
		s        baseline.Scores
		ntr, nva int
	}
	full := map[string]*data.Dataset{}
	cache := map[string]scored{} // by dataset settings and loss
	enc := json.NewEncoder(os.Stdout)
	for _, dir := range dirs {
		sw, err := results.Open(dir)
		if err != nil {
			return err
		}
		runs, err := sw.Runs(results.Filter{})
		if err != nil {
			return err
		}
		for _, r := range runs {
			var cfg spec.Spec
			if err := json.Unmarshal([]byte(r.Config), &cfg); err != nil {
				return fmt.Errorf("%s: run %s: config: %w", dir, r.RunID, err)
			}
			key, _ := json.Marshal([]any{cfg.Dataset, cfg.Loss})
			sc, ok := cache[string(key)]
			if !ok {
				ds, ok := full[cfg.Dataset.Name]
				if !ok {
					if ds, err = data.Load(cfg.Dataset.Name, dataDir); err != nil {
						return fmt.Errorf("%s: run %s: %w", dir, r.RunID, err)
					}
					full[cfg.Dataset.Name] = ds
				}
				d, err := specdata.Prepare(ds, cfg.Dataset)
				if err != nil {
					return fmt.Errorf("%s: run %s: %w", dir, r.RunID, err)
				}
				s, err := baseline.MeanImage(d.Train, d.Validation, cfg.Loss)
				if err != nil {
					return fmt.Errorf("%s: run %s: %w", dir, r.RunID, err)
				}
				sc = scored{s, d.Train.N, d.Validation.N}
				cache[string(key)] = sc
			}
			s := sc.s
			if err := enc.Encode(row{RunID: r.RunID, Dir: dir, LossKind: cfg.Loss, Loss: finite(s.Loss),
				MAPE: finite(s.MAPE), MAPESeed: finite(s.MAPESeed), Train: sc.ntr, Validation: sc.nva}); err != nil {
				return err
			}
		}
	}
	return nil
}
