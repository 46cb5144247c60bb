// Package writer records a sweep as it runs: it turns each epoch that training hands
// over (train.Epoch) into rows of the tables that package results defines, streams
// them into one Parquet file per run and table, and writes each run's runs/ row when
// the run ends. It is the only results code that imports training; readers use
// package results alone.
package writer
