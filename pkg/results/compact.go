package results

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"golang.org/x/sys/unix"
)

// Where a compaction builds the new table folders: a hidden folder in the sweep's
// folder (the same file system, so renames are atomic), removed when it is done.
const (
	compactDir  = ".compact"
	newSuffix   = ".new"   // <table>.new: the new folder being built
	oldSuffix   = ".old"   // <table>.old: the old folder, moved aside (two-rename switch)
	readySuffix = ".ready" // <table>.ready: <table>.new is complete
)

// step is called at each point of a compaction where a kill leaves a distinct state
// on disk; tests stop the process there (export_test.go).
var step = func(string) {}

// CompactOptions size the compacted files. Zero fields take the defaults.
type CompactOptions struct {
	// RowGroupBytes: a row group holds at most this many bytes of uncompressed data
	// (default 128 MiB), and at most RowGroupRows rows (default 1,048,576, pyarrow's
	// default). Row groups are what readers read in parallel and skip by statistics.
	RowGroupBytes int64
	RowGroupRows  int64
	// FileBytes: a part file holds at most this much uncompressed data (default 2 GiB).
	FileBytes int64
}

func (o *CompactOptions) defaults() {
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = 128 << 20
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 1 << 20
	}
	if o.FileBytes <= 0 {
		o.FileBytes = 2 << 30
	}
}

// TableCompaction says what compaction did to one table.
type TableCompaction struct {
	Table                   string
	FilesBefore, FilesAfter int
	RunsMerged              int // per-run files merged into parts
	Rows                    int64
}

// Compact merges the per-run files of the finished runs (completed or diverged) of
// the sweep folder dir into a few part-NNNNN.parquet files per table, sorted by run id
// and epoch, with row groups sized by opts. Files of runs that are not finished
// (failed, interrupted, or without a runs row) stay as they are, so that --resume
// replaces them as before; compacting again merges what was added since. Compacting a
// compacted sweep changes nothing.
//
// Each table is switched from the old folder to the new one by one atomic rename
// (renameat2 RENAME_EXCHANGE): a reader, pandas included, sees the old layout or the new
// one, never both. On file systems without it (NFS) the switch is two renames; a kill
// between them leaves the table folder missing until the next runner or compaction
// finishes the switch (this package's reader reads the new folder meanwhile).
//
// It returns ErrBusy (wrapped) when a runner is writing the sweep.
func Compact(dir string, opts CompactOptions) ([]TableCompaction, error) {
	opts.defaults()
	if _, err := Open(dir); err != nil {
		return nil, err
	}
	lock, err := lockExclusive(dir)
	if errors.Is(err, ErrBusy) {
		return nil, fmt.Errorf("compact %s: %w: a runner is writing it (it holds claims/sweep.lock); compact after it ends", dir, err)
	}
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if err := recoverCompaction(dir); err != nil {
		return nil, err
	}
	removeStaleTemps(dir)
	statuses, err := ReadStatuses(dir)
	if err != nil {
		return nil, err
	}
	var done []TableCompaction
	for _, table := range Tables {
		tc, err := compactTable(dir, table, statuses, opts)
		if err != nil {
			// A full disk, a damaged input: undo this table's switch if it was under
			// way and remove every file this compaction wrote, so that a failure
			// leaves the disk as it was (tables already switched stay compacted).
			err = fmt.Errorf("compact %s: %w", filepath.Join(dir, table), err)
			if rerr := recoverCompaction(dir); rerr != nil {
				err = fmt.Errorf("%w; cleaning up after it: %v", err, rerr)
			}
			return done, err
		}
		if tc != nil {
			done = append(done, *tc)
		}
	}
	return done, os.RemoveAll(filepath.Join(dir, compactDir))
}

// recoverCompaction finishes or undoes the table switch of a compaction that was
// killed, and removes what it left in .compact/. The caller holds the folder
// exclusively.
func recoverCompaction(dir string) error {
	cd := filepath.Join(dir, compactDir)
	if _, err := os.Stat(cd); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, table := range Tables {
		final := filepath.Join(dir, table)
		if _, err := os.Stat(final); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// Killed between the two renames of a switch: finish it (the new folder was
		// complete) or undo it.
		if _, err := os.Stat(filepath.Join(cd, table+readySuffix)); err == nil {
			if err := os.Rename(filepath.Join(cd, table+newSuffix), final); err == nil {
				continue
			}
		}
		if err := os.Rename(filepath.Join(cd, table+oldSuffix), final); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("recover %s: %w", final, err)
		}
	}
	if err := os.RemoveAll(cd); err != nil {
		return fmt.Errorf("recover %s: %w", cd, err)
	}
	return nil
}

// source is one input file of a compacted table.
type source struct {
	path  string
	runID string // "" for a part
}

func compactTable(dir, table string, statuses map[string]string, opts CompactOptions) (*TableCompaction, error) {
	src := filepath.Join(dir, table)
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var parts, merge []source
	var keep []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() || strings.HasPrefix(name, "."):
			// A temporary file of a killed runner, or not ours: left alone.
		case !IsParquetFile(name):
			keep = append(keep, name) // holds no rows of the table (IsParquetFile): carried over as it is
		case strings.HasPrefix(name, partPrefix):
			parts = append(parts, source{path: filepath.Join(src, name)})
		case Done(statuses[strings.TrimSuffix(name, ".parquet")]):
			merge = append(merge, source{path: filepath.Join(src, name), runID: strings.TrimSuffix(name, ".parquet")})
		default:
			keep = append(keep, name)
		}
	}
	tc := &TableCompaction{Table: table, FilesBefore: len(parts) + len(merge) + len(keep), RunsMerged: len(merge)}
	if len(merge) == 0 {
		tc.FilesAfter = tc.FilesBefore
		return tc, nil // nothing new to merge: already compacted
	}
	cd := filepath.Join(dir, compactDir)
	next := filepath.Join(cd, table+newSuffix)
	if err := os.RemoveAll(next); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(next, 0o777); err != nil {
		return nil, err
	}
	// Part names continue after the old ones, so that a part never has the name of a
	// different file of the old layout.
	first := 0
	for _, p := range parts {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(p.path), partPrefix+"%d.parquet", &n); err == nil {
			first = max(first, n+1)
		}
	}
	w := &partWriter{dir: next, next: first, opts: opts, want: rowSchema(table)}
	if err := w.merge(parts, merge); err != nil {
		w.abort()
		return nil, err
	}
	if err := w.close(); err != nil {
		w.abort()
		return nil, err
	}
	for _, name := range keep {
		if err := linkOrCopy(filepath.Join(src, name), filepath.Join(next, name)); err != nil {
			return nil, err
		}
	}
	syncDir(next)
	step(table + ": new folder written")
	if err := os.WriteFile(filepath.Join(cd, table+readySuffix), nil, 0o666); err != nil {
		return nil, err
	}
	syncDir(cd)
	step(table + ": new folder marked complete")
	if exchange == nil || exchange(src, next) != nil {
		// No atomic exchange on this file system: two renames (see Compact).
		if err := os.Rename(src, filepath.Join(cd, table+oldSuffix)); err != nil {
			return nil, err
		}
		step(table + ": old folder moved aside")
		if err := os.Rename(next, src); err != nil {
			return nil, err
		}
	}
	syncDir(dir)
	step(table + ": switched")
	os.RemoveAll(next)
	os.RemoveAll(filepath.Join(cd, table+oldSuffix))
	os.Remove(filepath.Join(cd, table+readySuffix))
	step(table + ": old folder removed")
	tc.FilesAfter, tc.Rows = w.files+len(keep), w.rows
	return tc, nil
}

// exchange swaps two paths atomically (renameat2 RENAME_EXCHANGE); nil tests the
// two-rename fallback.
var exchange = func(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

// partWriter writes the merged rows into part files of bounded size.
type partWriter struct {
	dir   string
	next  int // number of the next part file
	opts  CompactOptions
	want  *parquet.Schema // the table's columns, which every input must have
	files int
	rows  int64

	schema            *parquet.Schema
	meta              map[string]string
	rowBytes          float64 // estimated uncompressed bytes per row
	f                 partFile
	w                 *parquet.Writer
	groupRows         int64
	fileRows          int64
	maxGroup, maxFile int64
	runCol            int
}

// merge writes the parts' rows (already sorted) and the per-run files' rows merged by
// run id. Every source must have the same schema.
func (p *partWriter) merge(parts, runs []source) error {
	slices.SortFunc(runs, func(a, b source) int { return strings.Compare(a.runID, b.runID) })
	var files []*openSource
	defer func() {
		for _, f := range files {
			f.close()
		}
	}()
	var totalBytes, totalRows int64
	open := func(s source) (*openSource, error) {
		o, err := openParquet(s, p.want)
		if err != nil {
			return nil, err
		}
		files = append(files, o)
		if p.schema == nil {
			p.schema = o.pf.Schema()
			p.meta = map[string]string{"compacted": "true"}
			for _, k := range []string{"sweep", "spec_sha256", "tool_version"} {
				if v, ok := o.pf.Lookup(k); ok {
					p.meta[k] = v
				}
			}
			leaf, ok := p.schema.Lookup("run_id")
			if !ok {
				return nil, fmt.Errorf("%s has no run_id column", s.path)
			}
			p.runCol = leaf.ColumnIndex
		} else if !parquet.EqualNodes(p.schema, o.pf.Schema()) {
			return nil, fmt.Errorf("%s has another schema than %s: files of different tool versions cannot be merged", s.path, files[0].path)
		}
		for _, rg := range o.pf.Metadata().RowGroups {
			totalBytes += rg.TotalByteSize
			totalRows += rg.NumRows
		}
		return o, nil
	}
	// Open every input first, for the schema check and the row size estimate; the
	// rows are then streamed one row group at a time.
	opened := make(map[string]*openSource)
	for _, s := range append(slices.Clone(parts), runs...) {
		o, err := open(s)
		if err != nil {
			return err
		}
		opened[s.path] = o
	}
	p.rowBytes = 1
	if totalRows > 0 {
		p.rowBytes = max(1, float64(totalBytes)/float64(totalRows))
	}
	p.maxGroup = max(1, min(p.opts.RowGroupRows, int64(float64(p.opts.RowGroupBytes)/p.rowBytes)))
	p.maxFile = max(p.maxGroup, int64(float64(p.opts.FileBytes)/p.rowBytes))

	ri := 0 // next per-run file to write
	writeRunsBefore := func(id string, inclusive bool) error {
		for ri < len(runs) && (runs[ri].runID < id || (inclusive && runs[ri].runID == id)) {
			if err := p.copyAll(opened[runs[ri].path]); err != nil {
				return err
			}
			ri++
		}
		if ri < len(runs) && runs[ri].runID == id && !inclusive {
			return fmt.Errorf("run %s is both in %s and in a compacted part", id, runs[ri].path)
		}
		return nil
	}
	for _, s := range parts {
		o := opened[s.path]
		last := ""
		err := o.each(func(rows []parquet.Row) error {
			start := 0
			for i, row := range rows {
				id := runIDIn(row, p.runCol)
				if id == last {
					continue
				}
				if err := p.write(rows[start:i]); err != nil {
					return err
				}
				if err := writeRunsBefore(id, false); err != nil {
					return err
				}
				start, last = i, id
			}
			return p.write(rows[start:])
		})
		if err != nil {
			return err
		}
	}
	return writeRunsBefore("\xff", true)
}

func runIDIn(row parquet.Row, col int) string {
	for _, v := range row {
		if v.Column() == col {
			return string(v.ByteArray())
		}
	}
	return ""
}

// copyAll writes every row of a per-run file. A row group of at least
// eachBatchBytes (the weights table's: a row per matrix) is copied whole, as its
// compressed column chunks where the writer can (parquet.Writer.WriteRowGroup),
// instead of decoded into rows and encoded again: compaction then holds no decoded
// matrix. Smaller row groups are merged row by row into the part's row groups.
func (p *partWriter) copyAll(o *openSource) error {
	md := o.pf.Metadata()
	for i, rg := range o.pf.RowGroups() {
		if i < len(md.RowGroups) && md.RowGroups[i].TotalByteSize >= eachBatchBytes && rg.NumRows() <= p.maxGroup {
			if err := p.writeGroup(rg); err != nil {
				return fmt.Errorf("copy a row group of %s: %w", o.path, err)
			}
			continue
		}
		if err := o.eachIn(rg, md, i, p.write); err != nil {
			return err
		}
	}
	return nil
}

// writeGroup writes a whole row group as one row group of the part (after the rows
// written so far, which end their row group).
func (p *partWriter) writeGroup(rg parquet.RowGroup) error {
	n := rg.NumRows()
	if p.w != nil && p.fileRows > 0 && p.fileRows+n > p.maxFile {
		if err := p.closeFile(); err != nil {
			return err
		}
	}
	if p.w == nil {
		if err := p.open(); err != nil {
			return err
		}
	}
	if _, err := p.w.WriteRowGroup(rg); err != nil {
		return writeError(p.f.Name(), err)
	}
	p.rows += n
	p.fileRows += n
	p.groupRows = 0
	return nil
}

// write appends rows, starting a new row group or part file whenever one is full.
func (p *partWriter) write(rows []parquet.Row) error {
	for len(rows) > 0 {
		if p.w != nil && p.fileRows >= p.maxFile {
			if err := p.closeFile(); err != nil {
				return err
			}
		}
		if p.w == nil {
			if err := p.open(); err != nil {
				return err
			}
		}
		n := int(min(int64(len(rows)), p.maxGroup-p.groupRows, p.maxFile-p.fileRows))
		if _, err := p.w.WriteRows(rows[:n]); err != nil {
			return writeError(p.f.Name(), err)
		}
		rows = rows[n:]
		p.rows += int64(n)
		p.fileRows += int64(n)
		p.groupRows += int64(n)
		if p.groupRows >= p.maxGroup {
			p.groupRows = 0
			if err := p.w.Flush(); err != nil {
				return writeError(p.f.Name(), err)
			}
		}
	}
	return nil
}

// open starts the next part file.
func (p *partWriter) open() error {
	name := filepath.Join(p.dir, fmt.Sprintf("%s%05d.parquet", partPrefix, p.next))
	f, err := createPart(name)
	if err != nil {
		return err
	}
	opts := []parquet.WriterOption{p.schema, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(p.maxGroup)}
	for k, v := range p.meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	p.f, p.w, p.next, p.files, p.fileRows, p.groupRows = f, parquet.NewWriter(f, opts...), p.next+1, p.files+1, 0, 0
	return nil
}

func (p *partWriter) closeFile() error {
	if err := p.w.Close(); err != nil {
		return writeError(p.f.Name(), err)
	}
	step(strings.TrimSuffix(filepath.Base(p.dir), newSuffix) + ": part written")
	if err := p.f.Sync(); err != nil {
		return writeError(p.f.Name(), err)
	}
	if err := p.f.Close(); err != nil {
		return writeError(p.f.Name(), err)
	}
	p.w, p.f = nil, nil
	return nil
}

func (p *partWriter) close() error {
	if p.files == 0 && p.schema != nil {
		// Every input was empty: one empty part keeps the table's schema for readers.
		if err := p.open(); err != nil {
			return err
		}
	}
	if p.w == nil {
		return nil
	}
	return p.closeFile()
}

func (p *partWriter) abort() {
	if p.f != nil {
		p.f.Close()
		p.f, p.w = nil, nil
	}
	os.RemoveAll(p.dir)
}

// partFile is a part file being written.
type partFile interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// createPart creates a part file; tests replace it with one that runs out of space.
var createPart = func(name string) (partFile, error) { return os.Create(name) }

// openSource is an input file, open.
type openSource struct {
	path string
	f    *os.File
	pf   *parquet.File
}

func openParquet(s source, want *parquet.Schema) (*openSource, error) {
	f, pf, err := openChecked(s.path, want)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	return &openSource{path: s.path, f: f, pf: pf}, nil
}

// eachBatchBytes bounds the uncompressed bytes of the rows each passes at once: a
// row of the weights table holds a whole matrix (an SAE's is 8 MiB or more), and a
// decoded row takes several times its bytes (a parquet.Value per value).
const eachBatchBytes = 4 << 20

// each calls fn with the file's rows, in order, in batches of at most 256 rows and
// about eachBatchBytes (fn must not keep them).
func (o *openSource) each(fn func([]parquet.Row) error) error {
	md := o.pf.Metadata()
	for i, rg := range o.pf.RowGroups() {
		if err := o.eachIn(rg, md, i, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachIn calls fn with the rows of row group i (rg), in batches, as each does.
func (o *openSource) eachIn(rg parquet.RowGroup, md *format.FileMetaData, i int, fn func([]parquet.Row) error) error {
	n := 256
	if rows := rg.NumRows(); i < len(md.RowGroups) && rows > 0 && md.RowGroups[i].TotalByteSize > 0 {
		n = int(max(1, min(256, eachBatchBytes*rows/md.RowGroups[i].TotalByteSize)))
	}
	buf := make([]parquet.Row, n)
	rows := rg.Rows()
	defer rows.Close()
	for {
		n, err := rows.ReadRows(buf)
		if n > 0 {
			if err := fn(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", o.path, err)
		}
	}
}

func (o *openSource) close() { o.f.Close() }

// linkOrCopy puts src's file at dst: a hard link, or a copy where links fail.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncDir flushes a folder's entries (renames) to disk; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeError names the file a write failed on, unless err already does.
func writeError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		return err
	}
	return fmt.Errorf("write %s: %w", name, err)
}
