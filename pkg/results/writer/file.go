package writer

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
)

// atomicFile is a file written under a hidden temporary name and renamed into place
// by commit, so that readers see either nothing or the whole file.
type atomicFile struct {
	*os.File
	final string
}

func createAtomic(final string) (*atomicFile, error) {
	dir, base := filepath.Split(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: f, final: final}, nil
}

func (f *atomicFile) commit() error {
	if err := f.Sync(); err != nil {
		f.abort()
		return fmt.Errorf("write %s: %w", f.final, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.final, err)
	}
	if err := os.Rename(f.Name(), f.final); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.final, err)
	}
	return nil
}

func (f *atomicFile) abort() {
	f.Close()
	os.Remove(f.Name())
}

// WriteFileAtomic writes data to path through a temporary file and a rename.
func WriteFileAtomic(path string, data []byte) error {
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.commit()
}

// tableFile streams one run's rows of one table into one Parquet file: a row group
// per epoch.
type tableFile struct {
	table results.Table
	file  *atomicFile
	w     results.EpochWriter
}

func newTableFile(t results.Table, path string, meta map[string]string) (*tableFile, error) {
	f, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	return &tableFile{table: t, file: f, w: t.NewEpochWriter(f, opts...)}, nil
}

// write appends one epoch's rows as a row group.
func (t *tableFile) write(runID string, e *results.Epoch) error {
	if _, err := t.w.Write(runID, e); err != nil {
		return fmt.Errorf("write %s: %w", t.file.final, err)
	}
	return nil
}

func (t *tableFile) commit() error {
	if err := t.w.Close(); err != nil {
		t.file.abort()
		return fmt.Errorf("write %s: %w", t.file.final, err)
	}
	return t.file.commit()
}

func (t *tableFile) abort() { t.file.abort() }
