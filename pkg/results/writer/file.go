package writer

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
)

// atomicFile is a file written under a hidden temporary name and renamed into place
// by commit, so that readers see either nothing or the whole file.
type atomicFile struct {
	*os.File
	final string
}

// createAtomic starts writing final under a hidden temporary name in its folder. The
// file is created with mode 0666 less the umask, like any file a program writes (not
// os.CreateTemp's 0600), and folders with 0777 less the umask: colleagues sharing a
// results folder can read it (and, under umask 002, their group can write it).
func createAtomic(final string) (*atomicFile, error) {
	dir, base := filepath.Split(final)
	for range 100 {
		if err := os.MkdirAll(dir, 0o777); errors.Is(err, fs.ErrExist) {
			continue // created and removed again by another process meanwhile
		} else if err != nil {
			return nil, err
		}
		name := filepath.Join(dir, "."+base+"."+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		switch {
		case err == nil:
			return &atomicFile{File: f, final: final}, nil
		case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
			// A name taken, or the folder removed as empty by another process
			// between MkdirAll and OpenFile: try again.
			continue
		default:
			return nil, err
		}
	}
	return nil, fmt.Errorf("write %s: could not create a temporary file in %s", final, dir)
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

// removeIfEmpty removes a table folder that holds nothing (best effort: a folder
// another process has just written into stays).
func removeIfEmpty(dir string) { os.Remove(dir) }

// tableFile streams one run's rows of one table into one Parquet file: a row group
// per epoch. The file is created on the first rows, so that a table a run records
// nothing in gets no file (and a sweep that records nothing in it no folder).
type tableFile struct {
	table results.Table
	path  string
	opts  []parquet.WriterOption
	file  *atomicFile // nil until the first rows
	w     results.EpochWriter
	rows  int64
}

func newTableFile(t results.Table, path string, meta map[string]string) (*tableFile, error) {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	return &tableFile{table: t, path: path, opts: opts}, nil
}

// write appends one epoch's rows as a row group.
func (t *tableFile) write(runID string, e *results.Epoch) error {
	if !t.table.HasRows(e) {
		return nil
	}
	if t.file == nil {
		f, err := createAtomic(t.path)
		if err != nil {
			return err
		}
		t.file, t.w = f, t.table.NewEpochWriter(f, t.opts...)
	}
	n, err := t.w.Write(runID, e)
	if err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	t.rows += int64(n)
	return nil
}

// commit renames the file into place. A table that got no rows has no file: one an
// earlier attempt at the run left is removed.
func (t *tableFile) commit() error {
	if t.file == nil {
		if err := os.Remove(t.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", t.path, err)
		}
		return nil
	}
	if err := t.w.Close(); err != nil {
		t.file.abort()
		t.file = nil
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	err := t.file.commit()
	t.file = nil
	return err
}

// abort removes the file being written, and its folder when that is left empty.
func (t *tableFile) abort() {
	if t.file != nil {
		t.file.abort()
		t.file = nil
	}
	removeIfEmpty(filepath.Dir(t.path))
}
