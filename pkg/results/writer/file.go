package writer

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
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

// table streams rows of one Parquet file: a row group per flush.
type table[T any] struct {
	file *atomicFile
	w    *parquet.GenericWriter[T]
}

func newTable[T any](path string, meta map[string]string, opts ...parquet.WriterOption) (*table[T], error) {
	f, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	opts = append(opts, parquet.Compression(&parquet.Zstd))
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	return &table[T]{file: f, w: parquet.NewGenericWriter[T](f, opts...)}, nil
}

// write appends rows and flushes them as a row group.
func (t *table[T]) write(rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := t.w.Write(rows); err != nil {
		return fmt.Errorf("write %s: %w", t.file.final, err)
	}
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", t.file.final, err)
	}
	return nil
}

func (t *table[T]) commit() error {
	if err := t.w.Close(); err != nil {
		t.file.abort()
		return fmt.Errorf("write %s: %w", t.file.final, err)
	}
	return t.file.commit()
}

func (t *table[T]) abort() { t.file.abort() }
