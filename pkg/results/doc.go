// Package results is a sweep's results on disk: the table schema (row types, table
// names, run status values), a reader (Open) and compaction (Compact). It imports no
// training or backend code, so a program that only reads results, a notebook or a
// plotting tool, builds without XLA or cgo (a test checks `go list -deps`); the runner
// writes through the writer subpackage, which converts training's epochs to these rows.
//
// Every table is declared once, in Registry (tables.go): its name, row type, key
// columns and how an epoch becomes its rows. The writer, compaction, claims, the size
// report and `go run ./experiments tables` (which the Python tests read) all walk it,
// and Read reads any of them by name.
//
// A sweep folder holds one table per folder, so that pandas reads a whole table with
// pd.read_parquet("results/<name>/metrics") and run_id is an ordinary column:
//
//	results/<name>/spec.yaml        the spec file exactly as it ran
//	results/<name>/runs/            one row per run: parameters, status, timings, config
//	results/<name>/metrics/         tidy per-epoch metrics (run_id, epoch, split, metric, value)
//	results/<name>/units/           per-epoch, per-unit activation statistics
//	results/<name>/activations/     probe samples' activation vectors (list<float32>)
//	results/<name>/reconstructions/ fixed inputs and their reconstructions; a VAE's generated images
//
// While a sweep runs, each table folder holds one file per run (<run_id>.parquet, a
// row group per epoch). The writer rewrites it as epochs end, under a hidden temporary
// name (pyarrow skips names starting with '.'), renamed over the old one, so that a
// reader sees the finished epochs of a run being trained, never half a file and never
// a row twice (live tables). A run's runs/ row is written last; its presence is what
// marks the run as recorded. This reader shows the rows of runs not recorded yet
// (being trained) and hides those of failed runs.
//
// When every run is done, compaction merges the per-run files of finished runs into a
// few part-NNNNN.parquet files per table, sorted by run id and epoch, with row groups
// sized for readers: a 1,000-run sweep is then a handful of files instead of 5,000.
// Readers need not know which layout they read: a folder is one table either way.
//
// What is on disk is not trusted blindly. A file is read only when its columns are
// those of the table's row type (a foreign or damaged file is refused by name, never
// read as zeros, and a null never becomes 0); rows of a failed run, or of a run without
// a runs/ row, are not that run's results and are not shown (the writer removes them);
// Verify checks the files of finished runs against the row counts their runs/ file
// records, so that --resume runs damaged ones again. Whoever holds the folder alone
// (a runner starting, compaction) removes what killed processes left behind, and a
// compaction that fails (a full disk) removes what it wrote.
package results
