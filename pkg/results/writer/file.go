package writer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// tableFile holds one run's rows of one table in one Parquet file, <run_id>.parquet,
// a row group per epoch, that readers can read while the run trains: the epochs
// written since the last flush wait in memory (as a small Parquet file), and flush
// writes a new file under a temporary name, the row groups already visible copied
// verbatim (compressed bytes, not re-encoded) followed by the waiting ones, and renames
// it over the old one. A reader, pandas or DuckDB or this module's, therefore sees the
// run's file before or after a flush, whole either way, and never a row twice. The
// file is created on the first rows, so that a table a run records nothing in gets no
// file (and a sweep that records nothing in it no folder).
type tableFile struct {
	table   results.Table
	path    string
	opts    []parquet.WriterOption
	pending *bytes.Buffer       // epochs not yet flushed, as a Parquet file (nil: none)
	w       results.EpochWriter // writes into pending
	mine    bool                // path holds this attempt's flushed rows
	rows    int64               // rows written, flushed or not
}

func newTableFile(t results.Table, path string, meta map[string]string) (*tableFile, error) {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	return &tableFile{table: t, path: path, opts: opts}, nil
}

// write adds one epoch's rows (a row group at the next flush).
func (t *tableFile) write(runID string, e *results.Epoch) error {
	if !t.table.HasRows(e) {
		return nil
	}
	if t.w == nil {
		t.pending = new(bytes.Buffer)
		t.w = t.table.NewEpochWriter(t.pending, t.opts...)
	}
	n, err := t.w.Write(runID, e)
	if err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	t.rows += int64(n)
	return nil
}

// flush makes the rows written so far visible: the run's file rewritten with the new
// row groups and renamed into place (nothing to do when no rows wait). The file of an
// earlier attempt at the run is replaced, not extended.
func (t *tableFile) flush() error {
	if t.w == nil {
		return nil
	}
	err := t.w.Close()
	pending := t.pending
	t.w, t.pending = nil, nil
	if err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	f, err := createAtomic(t.path)
	if err != nil {
		return err
	}
	pw := parquet.NewWriter(f, append([]parquet.WriterOption{t.table.Schema()}, t.opts...)...)
	copyFrom := func(r io.ReaderAt, size int64) error {
		pf, err := parquet.OpenFile(r, size)
		if err != nil {
			return err
		}
		for _, rg := range pf.RowGroups() {
			if _, err := pw.WriteRowGroup(rg); err != nil {
				return err
			}
		}
		return nil
	}
	if t.mine {
		old, err := os.Open(t.path)
		if err != nil {
			f.abort()
			return fmt.Errorf("write %s: %w", t.path, err)
		}
		st, err := old.Stat()
		if err == nil {
			err = copyFrom(old, st.Size())
		}
		old.Close()
		if err != nil {
			f.abort()
			return fmt.Errorf("write %s: copying its rows so far: %w", t.path, err)
		}
	}
	if err := copyFrom(bytes.NewReader(pending.Bytes()), int64(pending.Len())); err != nil {
		f.abort()
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if err := pw.Close(); err != nil {
		f.abort()
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	if err := f.commit(); err != nil {
		return err
	}
	t.mine = true
	return nil
}

// commit flushes what waits: the file then holds all the run's rows. A table that got
// no rows has no file: one an earlier attempt at the run left is removed.
func (t *tableFile) commit() error {
	if err := t.flush(); err != nil {
		return err
	}
	if !t.mine {
		if err := os.Remove(t.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", t.path, err)
		}
	}
	return nil
}

// abort drops the rows not flushed and removes the run's file (an aborted run keeps no
// rows), and its folder when that is left empty.
func (t *tableFile) abort() {
	if t.w != nil {
		t.w.Close()
		t.w, t.pending = nil, nil
	}
	os.Remove(t.path)
	t.mine = false
	removeIfEmpty(filepath.Dir(t.path))
}
