package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
)

// seedsDataDir is where MNIST and Fashion-MNIST are found: $SAERUN_DATA_DIR, else the
// shared folder beside the repository (the test runs in experiments/).
func seedsDataDir() string {
	if d := os.Getenv("SAERUN_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "datasets")
}

// TestSeedsSpecsRunShortened runs every spec of experiments/seeds/ (the reproductions
// of the reference notebooks) for one epoch on a few hundred samples with the pure-Go
// backend, and checks that every run completed and wrote its tables. The full runs are
// scripts/reproduce.sh.
func TestSeedsSpecsRunShortened(t *testing.T) {
	specs, err := filepath.Glob(filepath.Join("seeds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < 10 {
		t.Fatalf("found %d specs in experiments/seeds, want one per notebook experiment (10)", len(specs))
	}
	dataDir := seedsDataDir()
	for _, path := range specs {
		path := path
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Name    string `yaml:"name"`
				Dataset struct {
					Name string `yaml:"name"`
				} `yaml:"dataset"`
				Record map[string]any `yaml:"record"`
				Sweep  map[string]any `yaml:"sweep"`
			}
			if err := yaml.Unmarshal(raw, &head); err != nil {
				t.Fatal(err)
			}
			if head.Name != name {
				t.Errorf("spec name %q, want the file's name %q", head.Name, name)
			}
			if !strings.HasPrefix(string(raw), "# Seed ") {
				t.Errorf("%s: the header comment must start with the seed it comes from (\"# Seed NNN ...\")", path)
			}
			if head.Dataset.Name != "digits" {
				if fi, err := os.Stat(filepath.Join(dataDir, head.Dataset.Name)); err != nil || !fi.IsDir() {
					t.Skipf("%s not found under %s (set SAERUN_DATA_DIR)", head.Dataset.Name, dataDir)
				}
			}
			set := []string{"train.epochs=1", "dataset.max_train_samples=256", "dataset.max_validation_samples=128"}
			if head.Sweep != nil {
				// Only where there is a sweep: --set sweep.seeds on a spec without one
				// creates a sweep without a method, which the spec rejects.
				set = append(set, "sweep.seeds=[1]")
			}
			out := t.TempDir()
			sum, err := runner.RunFile(context.Background(), path, runner.Options{
				Out: out, DataDir: dataDir, Backend: "go", Set: set, Log: io.Discard,
			})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Runs == 0 || sum.Completed != sum.Runs || !sum.Finished() {
				t.Fatalf("summary %+v: want every run completed", sum)
			}
			tables := []string{"runs", "metrics"}
			for _, k := range []string{"units", "activations"} {
				if head.Record[k] != nil {
					tables = append(tables, k)
				}
			}
			if head.Record["reconstructions"] != nil || head.Record["generated"] != nil {
				tables = append(tables, "reconstructions")
			}
			sw, err := results.Open(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, table := range tables {
				runs := map[string]bool{}
				var err error
				switch table {
				case "runs":
					var rows results.Runs
					rows, err = sw.Runs(results.Filter{})
					for _, r := range rows {
						runs[r.RunID] = true
					}
				case "metrics":
					var rows results.Metrics
					rows, err = sw.Metrics(results.Filter{})
					for _, r := range rows {
						runs[r.RunID] = true
					}
				case "units":
					var rows []results.UnitRow
					rows, err = sw.Units(results.Filter{})
					for _, r := range rows {
						runs[r.RunID] = true
					}
				case "activations":
					var rows []results.ActivationRow
					rows, err = sw.Activations(results.Filter{})
					for _, r := range rows {
						runs[r.RunID] = true
					}
				case "reconstructions":
					var rows []results.ImageRow
					rows, err = sw.Reconstructions(results.Filter{})
					for _, r := range rows {
						runs[r.RunID] = true
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(runs) != sum.Runs {
					t.Errorf("%s/%s: rows of %d runs, want every run (%d)", name, table, len(runs), sum.Runs)
				}
			}
			if _, err := os.Stat(filepath.Join(out, name, "spec.yaml")); err != nil {
				t.Error(err)
			}
		})
	}
}
