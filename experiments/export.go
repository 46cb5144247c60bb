package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/sparselab/saerun/pkg/export"
	"github.com/sparselab/saerun/pkg/results"
)

// runList is a repeatable --run flag.
type runList []string

func (r *runList) String() string     { return strings.Join(*r, ",") }
func (r *runList) Set(v string) error { *r = append(*r, v); return nil }

func exportCmd(name string, args []string) int {
	fs := newFlags(name+" [flags] RESULTS_DIR --out DIR", `
Writes trained runs of a sweep's folder (results/<name>) as files other tools load, one
folder per run under --out, named by its run id (the final weights every run keeps,
unless its spec set record.weights.every: 0):
  saelens      a sparse autoencoder as SAELens `+export.SAELensVersion+` loads it
               (SAE.load_from_disk(DIR/RUN_ID)): cfg.json + sae_weights.safetensors;
               relu -> standard, topk -> topk, jumprelu -> jumprelu, batchtopk and
               matryoshka_batchtopk -> jumprelu with their one threshold on every latent
  safetensors  any run: model.safetensors ("<layer>.kernel" [in, out], "<layer>.bias")
               + config.json (layers in order, sizes, activations, the run's spec)
  auto         saelens for an SAE, safetensors otherwise (the default)
Prints one line per run: run id, format, architecture, folder. --out must be new or
empty.`)
	var runs runList
	fs.Var(&runs, "run", "a run id to export (repeatable; default: every completed run)")
	format := fs.String("format", "auto", "auto, saelens or safetensors")
	out := fs.String("out", "", "the folder to write (new or empty)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 || *out == "" {
		fs.Usage()
		return 2
	}
	sw, err := results.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done, err := export.Export(sw, export.Options{Runs: runs, Format: *format, Out: *out})
	for _, e := range done {
		fmt.Printf("%s\t%s\t%s\t%s\n", e.RunID, e.Format, e.Architecture, e.Dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
