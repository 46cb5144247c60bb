package data

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// A parquet shard of a Stream is read a page at a time (pqCursor): the stream holds
// one decoded page of it, never a row group (pyarrow's default row group holds a
// million rows). The loader's hostile-file checks apply: the footer's claims are
// bounded by the file's size before anything is sized by them (checkFooterClaims),
// every column chunk's page headers are checked before its pages are read
// (checkPageHeaders, with pages bounded by maxStreamPage), and each column chunk read
// whole must hold its footer's value count and exact min and max (checkChunkMeta).

// maxStreamPage bounds a streamed parquet page's uncompressed size: the stream holds
// one page decoded, and pyarrow writes pages of 1 MiB.
const maxStreamPage = 64 << 20

// pqShard is what a Stream knows of a parquet shard.
type pqShard struct {
	column    vectorColumn
	groupRows []int64 // rows of each row group
	size      int64
}

// statParquetShard reads a parquet shard's footer: its vector column (ld chooses it,
// and keeps it the same across the folder), row count and vector length.
func statParquetShard(p string, ld *parquetLoader) (shard, int, string, error) {
	f, pf, size, err := openParquetShard(p)
	if err != nil {
		return shard{}, 0, "", err
	}
	defer f.Close()
	ld.f16 = float16Leaves(pf.Metadata())
	vec, err := ld.chooseColumn(p, pf.Schema())
	if err != nil {
		return shard{}, 0, "", err
	}
	md := pf.Metadata()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("data: %s: %w: %s", absPath(p), ErrBadFormat, fmt.Sprintf(format, args...))
	}
	rows, err := checkFooterClaims(md, size, vec.leaf.ColumnIndex)
	if err != nil {
		return shard{}, 0, "", bad("%v", err)
	}
	if rows == 0 {
		return shard{}, 0, "", bad("no rows; every shard must hold rows")
	}
	// The vector length, from the footer: every row of a valid column holds dim
	// values, so each row group's value count is its rows × dim. Each row's length is
	// checked again as it is read.
	dim := int64(0)
	sh := &pqShard{column: vec, size: size}
	for i, rg := range md.RowGroups {
		sh.groupRows = append(sh.groupRows, rg.NumRows)
		if rg.NumRows == 0 {
			continue
		}
		v := rg.Columns[vec.leaf.ColumnIndex].MetaData.NumValues
		if v%rg.NumRows != 0 || (dim != 0 && v/rg.NumRows != dim) {
			return shard{}, 0, "", bad("column %q: row group %d holds %d values in %d rows: vectors of different lengths, or nulls (every row must hold the same number of values, none null)",
				vec.name, i, v, rg.NumRows)
		}
		dim = v / rg.NumRows
	}
	if dim < 1 || dim > math.MaxInt32 {
		return shard{}, 0, "", bad("column %q holds vectors of %d values", vec.name, dim)
	}
	dtype := "list<float32>"
	if vec.f16 {
		dtype = "list<float16>"
	}
	return shard{path: p, rows: int(rows), pq: sh}, int(dim), dtype, nil
}

func openParquetShard(p string) (*os.File, *parquet.File, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("data: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("data: %w", err)
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(int(min(4<<20, max(fi.Size(), 4<<10)))))
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("data: %s: %w: not a readable parquet file (%v)", absPath(p), ErrBadFormat, err)
	}
	return f, pf, fi.Size(), nil
}

// pqCursor reads the rows of a parquet shard in order, a page at a time, and keeps its
// place: a stream reads a shard's rows in consecutive runs (chunks), so each read
// usually continues where the last stopped; a read elsewhere (a new shard, a resumed
// position) reopens the row group that holds the row and skips to it.
type pqCursor struct {
	sh    *shard
	f     *os.File
	pf    *parquet.File
	next  int64 // the shard row the next row read is
	group int   // the open row group; -1: none
	first int64 // the shard row of its first row
	pages parquet.Pages
	row   int64 // rows of the group started so far (the row being read is row-1)
	inRow int   // values read of that row
	// the current page and the place in it
	page       parquet.Page
	vals       []float32
	reps, defs []byte
	i          int
	// the column chunk's dictionary and decoded tally (checkChunkMeta)
	dict, scratch []float32
	levels        int64
	lo, hi        float32
}

func (c *pqCursor) close() {
	c.closeGroup()
	if c.f != nil {
		c.f.Close()
	}
	*c = pqCursor{}
}

func (c *pqCursor) closeGroup() {
	if c.page != nil {
		parquet.Release(c.page)
	}
	if c.pages != nil {
		c.pages.Close()
	}
	c.page, c.pages, c.vals, c.reps, c.defs, c.i, c.group = nil, nil, nil, nil, nil, 0, -1
}

// read fills dst with len(dst)/dim rows of sh from row off.
func (c *pqCursor) read(sh *shard, off int, dst []float32, dim int) error {
	if c.sh != sh || c.next != int64(off) {
		if err := c.seek(sh, int64(off), dim); err != nil {
			return err
		}
	}
	n := len(dst) / dim
	for k := 0; k < n; k++ {
		if err := c.readRow(dst[k*dim:(k+1)*dim], dim); err != nil {
			return err
		}
	}
	return nil
}

// seek places the cursor at row off of sh: it opens the row group that holds it and
// reads (checking, not keeping) the rows before it.
func (c *pqCursor) seek(sh *shard, off int64, dim int) error {
	if c.sh != sh {
		c.close()
		f, pf, _, err := openParquetShard(sh.path)
		if err != nil {
			return err
		}
		c.sh, c.f, c.pf, c.group = sh, f, pf, -1
	}
	c.closeGroup()
	g, first := 0, int64(0)
	for ; g < len(sh.pq.groupRows) && first+sh.pq.groupRows[g] <= off; g++ {
		first += sh.pq.groupRows[g]
	}
	if g == len(sh.pq.groupRows) {
		return fmt.Errorf("data: %s: row %d is past the shard's %d rows", absPath(sh.path), off, sh.rows)
	}
	if err := c.openGroup(g, first); err != nil {
		return err
	}
	skip := make([]float32, dim)
	for c.next < off {
		if err := c.readRow(skip, dim); err != nil {
			return err
		}
	}
	return nil
}

// openGroup opens row group g (whose first row is shard row first) after checking its
// page headers.
func (c *pqCursor) openGroup(g int, first int64) error {
	sh := c.sh
	col := sh.pq.column.leaf.ColumnIndex
	cm := chunkMeta(c.pf.Metadata(), g, col)
	if cm == nil {
		return fmt.Errorf("data: %s: %w: the footer has no entry for column %d of row group %d", absPath(sh.path), ErrBadFormat, col, g)
	}
	limit := min(parquetLimit(sh.pq.size), maxStreamPage)
	if err := checkPageHeaders(c.f, cm, sh.pq.size, limit, cm.NumValues); err != nil {
		return fmt.Errorf("data: %s: %w: row group %d, column %d: %v (a streamed shard's pages may hold at most %d MiB)",
			absPath(sh.path), ErrBadFormat, g, col, err, maxStreamPage>>20)
	}
	c.group, c.first, c.next = g, first, first
	c.pages = c.pf.RowGroups()[g].ColumnChunks()[col].Pages()
	c.row, c.inRow, c.dict, c.levels = 0, 0, nil, 0
	c.lo, c.hi = float32(math.Inf(1)), float32(math.Inf(-1))
	return nil
}

// bad is an error naming the shard, the column and the row being read.
func (c *pqCursor) bad(format string, args ...any) error {
	return fmt.Errorf("data: %s: %w: row %d, column %q: %s", absPath(c.sh.path), ErrBadFormat, c.first+c.row-1, c.sh.pq.column.name, fmt.Sprintf(format, args...))
}

// readRow reads the next row into dst (dim values), opening the next row group when
// the current one ends.
func (c *pqCursor) readRow(dst []float32, dim int) error {
	if c.group < 0 {
		g, first := 0, int64(0)
		for ; g < len(c.sh.pq.groupRows) && first+c.sh.pq.groupRows[g] <= c.next; g++ {
			first += c.sh.pq.groupRows[g]
		}
		if g == len(c.sh.pq.groupRows) {
			return fmt.Errorf("data: %s: %w: the shard ends at row %d (did the file change while training?)", absPath(c.sh.path), ErrTruncated, c.next)
		}
		if err := c.openGroup(g, first); err != nil {
			return err
		}
	}
	started := false
	for {
		if c.i == len(c.vals) {
			more, err := c.nextPage()
			if err != nil {
				return err
			}
			if !more { // the column chunk ends: so does the row
				if !started {
					return fmt.Errorf("data: %s: %w: column %q holds %d rows in row group %d, the footer says %d", absPath(c.sh.path), ErrBadFormat,
						c.sh.pq.column.name, c.row, c.group, c.sh.pq.groupRows[c.group])
				}
				if err := c.endGroup(); err != nil {
					return err
				}
				break
			}
			continue
		}
		if c.reps[c.i] == 0 {
			if started { // the next row starts: this one is complete
				break
			}
			started = true
			c.row++
			c.inRow = 0
			if c.row > c.sh.pq.groupRows[c.group] {
				return fmt.Errorf("data: %s: %w: column %q holds more rows than its row group %d (%d)", absPath(c.sh.path), ErrBadFormat,
					c.sh.pq.column.name, c.group, c.sh.pq.groupRows[c.group])
			}
		} else if !started {
			return c.bad("a page starts inside a row the cursor did not read (the file is damaged)")
		}
		// Copy the row's values up to the next row start, in one piece.
		j := c.i + 1
		for j < len(c.vals) && c.reps[j] != 0 {
			j++
		}
		if c.inRow+j-c.i > dim {
			return c.bad("%d or more values, expected %d (the vector length of the shard's footer)", c.inRow+j-c.i, dim)
		}
		copy(dst[c.inRow:], c.vals[c.i:j])
		c.inRow += j - c.i
		c.i = j
	}
	if c.inRow != dim {
		return c.bad("%d values, expected %d (the vector length of the shard's footer)", c.inRow, dim)
	}
	c.next++
	return nil
}

// nextPage decodes the next page of the open column chunk; false at its end. A page's
// values are checked as a whole: no null (or empty list), every value finite.
func (c *pqCursor) nextPage() (bool, error) {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	c.vals, c.i = nil, 0
	page, err := c.readPage()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("data: %s: %w: reading column %q: %v", absPath(c.sh.path), ErrBadFormat, c.sh.pq.column.name, err)
	}
	c.page = page
	reps, defs := page.RepetitionLevels(), page.DefinitionLevels()
	n := int(page.NumValues())
	c.levels += int64(n)
	if len(reps) != n || len(defs) != n {
		return false, fmt.Errorf("data: %s: %w: column %q: a page of %d values has %d repetition and %d definition levels",
			absPath(c.sh.path), ErrBadFormat, c.sh.pq.column.name, n, len(reps), len(defs))
	}
	// rowAt is the group row of value i of this page, for messages.
	rowAt := func(i int) int64 {
		r := c.row - 1
		for _, rep := range reps[:i+1] {
			if rep == 0 {
				r++
			}
		}
		return c.first + r
	}
	maxDef := byte(c.sh.pq.column.leaf.MaxDefinitionLevel)
	if i := slices.IndexFunc(defs, func(d byte) bool { return d != maxDef }); i >= 0 {
		return false, fmt.Errorf("data: %s: %w: row %d, column %q: a null or empty vector, or a null element (every row must hold its values, none null)",
			absPath(c.sh.path), ErrBadFormat, rowAt(i), c.sh.pq.column.name)
	}
	vals, err := pageValues(page, c.sh.pq.column.f16, &c.dict, &c.scratch)
	if err != nil {
		return false, fmt.Errorf("data: %s: %w: column %q: %v", absPath(c.sh.path), ErrBadFormat, c.sh.pq.column.name, err)
	}
	if len(vals) != n {
		return false, fmt.Errorf("data: %s: %w: column %q: a page holds %d values but %d levels", absPath(c.sh.path), ErrBadFormat, c.sh.pq.column.name, len(vals), n)
	}
	if i := firstNonFinite(vals); i >= 0 {
		return false, fmt.Errorf("data: %s: %w: row %d, column %q: an element is %v; every value must be finite",
			absPath(c.sh.path), ErrBadFormat, rowAt(i), c.sh.pq.column.name, vals[i])
	}
	c.lo, c.hi = floatRange(vals, c.lo, c.hi)
	c.vals, c.reps, c.defs = vals, reps, defs
	return true, nil
}

// readPage reads the next page, turning a panic of the parquet reader (a page it
// cannot decode) into an error.
func (c *pqCursor) readPage() (p parquet.Page, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the parquet reader failed on a page: %v", r)
		}
	}()
	return c.pages.ReadPage()
}

// endGroup closes a column chunk read to its end, after checking it against the
// footer: its row count, value count and exact range.
func (c *pqCursor) endGroup() error {
	g := c.group
	if c.row != c.sh.pq.groupRows[g] {
		return fmt.Errorf("data: %s: %w: column %q holds %d rows in row group %d, the footer says %d", absPath(c.sh.path), ErrBadFormat,
			c.sh.pq.column.name, c.row, g, c.sh.pq.groupRows[g])
	}
	meta := chunkMeta(c.pf.Metadata(), g, c.sh.pq.column.leaf.ColumnIndex)
	if err := checkChunkMeta(meta, c.sh.pq.column.f16, c.levels, c.lo, c.hi); err != nil {
		return fmt.Errorf("data: %s: %w: column %q, rows %d to %d: %v", absPath(c.sh.path), ErrBadFormat, c.sh.pq.column.name,
			c.first, c.first+c.row-1, err)
	}
	c.closeGroup()
	return nil
}
