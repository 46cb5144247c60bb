package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/results"
)

// verb is a subcommand: go run ./experiments VERB [flags] ARGS. Each has its own flag
// set, so that `go run ./experiments VERB -h` prints its usage. The main command
// (go run ./experiments [flags] SPEC.yaml) is not a verb; a spec file that happens to
// be named like one is run as ./NAME.
type verb struct {
	summary string
	run     func(name string, args []string) int
}

var verbs = map[string]verb{
	"compact":    {"merge a sweep's per-run files into a few files per table", compactCmd},
	"export":     {"write trained runs for other tools: SAELens folders, safetensors", exportCmd},
	"download":   {"fetch MNIST / Fashion-MNIST into the data folder", downloadCmd},
	"report":     {"write results/<name>/report.html from the report notebook", reportCmd},
	"kubernetes": {"print a Kubernetes Indexed Job running a sweep's shards (no cluster needed to write it)", kubernetesCmd},
	"slurm":      {"run a sweep as a Slurm job array, then compact it and write its report", slurmCmd},
	"tables":     {"list the output tables (name, key columns, columns) as JSON", tablesCmd},
}

// verbUsage lists the verbs, for the main command's -h.
func verbUsage() string {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %-9s %s\n", n, verbs[n].summary)
	}
	return b.String()
}

// newFlags makes a verb's flag set; -h prints usage and the flags, then exits 0.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./experiments %s\n\n%s\n", name, strings.TrimSpace(usage))
		if hasFlags(fs) {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses a verb's flags, before or after its arguments (reorder): -1 means go
// on, else the exit code (0 after -h).
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(reorder(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return -1
}

func compactCmd(name string, args []string) int {
	fs := newFlags(name+" [flags] RESULTS_DIR...", `
Merges the per-run Parquet files of each finished run (completed or diverged) of a
sweep's folder, results/<name>, into a few part-NNNNN.parquet files per table, sorted
by run id and epoch. Runs that are not finished keep their files, so --resume works as
before. The switch is atomic per table; running it again is harmless. A sweep is
compacted when it completes, unless it ran with --no-compact. Refused while a runner
writes the folder. Prints, per table, the files before and after.`)
	rowGroupMB := fs.Int64("row-group-mb", 128, "largest row group, MB of uncompressed data")
	fileMB := fs.Int64("file-mb", 2048, "largest part file, MB of uncompressed data")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *rowGroupMB < 1 || *fileMB < 1 {
		fmt.Fprintf(os.Stderr, "compact: --row-group-mb and --file-mb must be at least 1 (got %d and %d)\n", *rowGroupMB, *fileMB)
		return 2
	}
	code := 0
	for _, dir := range fs.Args() {
		tables, err := results.Compact(dir, results.CompactOptions{RowGroupBytes: *rowGroupMB << 20, FileBytes: *fileMB << 20})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
			continue
		}
		for _, t := range tables {
			fmt.Printf("%s\t%s\t%d files -> %d\t%d runs merged\n", dir, t.Table, t.FilesBefore, t.FilesAfter, t.RunsMerged)
		}
	}
	return code
}

func tablesCmd(name string, args []string) int {
	fs := newFlags(name, `
Prints the output tables of a sweep folder, as package results declares them
(results.Registry), one JSON object a line on stdout: name, doc, key (the columns that
identify a row, in compaction's sort order), columns, per_epoch, and optional (written
only by the runs that record it). The Python tests take their list of tables from it.`)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	for _, t := range results.Registry {
		err := enc.Encode(struct {
			Name     string   `json:"name"`
			Doc      string   `json:"doc"`
			Key      []string `json:"key"`
			Columns  []string `json:"columns"`
			PerEpoch bool     `json:"per_epoch"`
			Optional bool     `json:"optional"`
		}{t.Name, t.Doc, t.Key, t.Columns(), t.PerEpoch(), t.Optional})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func downloadCmd(name string, args []string) int {
	fs := newFlags(name+" [flags] DATASET...", fmt.Sprintf(`
Fetches the four IDX files of each dataset (%s) into <data-dir>/<dataset>/ and
checks their MD5 sums; files already there and valid are kept (nothing is fetched). digits is embedded in the
binary and needs no download.`, strings.Join(slices.DeleteFunc(data.Names(), func(n string) bool { return n == "digits" }), ", ")))
	dir := fs.String("data-dir", "", "folder to fetch into (default: as the main command, $SAERUN_DATA_DIR, ../shared/datasets if present, else the user cache)")
	base := fs.String("base-url", "", "mirror to fetch from (default: the dataset's canonical mirror)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	target := *dir
	if target == "" {
		target = data.DefaultDir()
	}
	for _, ds := range fs.Args() {
		if err := data.Download(context.Background(), ds, target, *base); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if errors.Is(err, data.ErrUnknownDataset) || ds == "digits" {
				return 2
			}
			return 1
		}
		fmt.Printf("%s\t%s\n", ds, filepath.Join(target, ds))
	}
	return 0
}
