// Package writer records a sweep as it runs: it turns each epoch that training hands
// over (results.Epoch) into rows of the tables that package results defines, streams
// them into one Parquet file per run and table, and writes each run's runs/ row when
// the run ends. It imports no training or backend code (training hands over the plain
// types of package results), so it builds without GoMLX and without cgo; readers use
// package results alone.
package writer
