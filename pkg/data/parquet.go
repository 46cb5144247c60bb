package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sparselab/saerun/pkg/results"
)

// ParquetOptions select the vectors of a parquet data set.
type ParquetOptions struct {
	// Column is the list<float32> (or list<float16>) column holding the vectors; ""
	// means the file's only one.
	Column string
	// Where keeps only the rows whose scalar columns equal these values (string,
	// integer, bool or number), e.g. {run_id: ..., epoch: 3, layer: encoder.0} to read
	// one run's, epoch's and layer's vectors out of an activations/ table.
	Where map[string]any
}

// LoadParquet reads the vectors of one list<float32> column (or list<float16>,
// converted to float32 exactly) of a .parquet file, or of
// every .parquet file of a folder (in name order; names starting with "." or "_" are
// skipped, as the results reader does), into one Set. Every vector must have the same
// length and finite values. An integer column named "label" is kept as the rows'
// labels (a null label is NoLabel); without one every label is NoLabel. A relative
// path is resolved against the working directory.
//
// Pages are decoded straight into the Set's buffer (dictionary pages looked up,
// plain pages copied), so loading takes about the time to read and decompress the
// file.
//
// A file is distrusted until its parts agree (issue 23): the footer's row and value
// counts must fit in the file's size before any buffer is sized by them
// (checkFooterClaims), every page header must agree with the footer before parquet-go
// sizes a buffer by it (checkPageHeaders), and each decoded chunk must hold the
// footer's number of values and exactly its recorded min and max (checkChunkMeta),
// so that a decoder bug or a damaged page is refused by name instead of training on
// zeros. testdata/matrix holds every way pyarrow writes such a column.
func LoadParquet(path string, opt ParquetOptions) (*Set, error) {
	files, err := parquetFiles(path)
	if err != nil {
		return nil, err
	}
	where, err := normalizeWhere(opt.Where)
	if err != nil {
		return nil, err
	}
	ld := &parquetLoader{opt: opt, where: where, seen: map[string]map[string]bool{}}
	for _, f := range files {
		if err := ld.file(f); err != nil {
			return nil, err
		}
	}
	if ld.rows == 0 {
		if len(where) > 0 {
			return nil, fmt.Errorf("data: %s: %w: no row matches where %s (values found: %s)",
				absPath(path), ErrBadFormat, describeWhere(where), ld.describeSeen())
		}
		return nil, fmt.Errorf("data: %s: %w: no rows", absPath(path), ErrBadFormat)
	}
	return &Set{X: slices.Clip(ld.x), Labels: slices.Clip(ld.labels), N: ld.rows, Dim: ld.dim, Source: absPath(path)}, nil
}

// parquetFiles lists the files path names: itself, or the .parquet files of a folder.
func parquetFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data: %w: %s (a relative path is resolved against the working directory)", ErrNotFound, absPath(path))
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !results.IsParquetFile(name) { // the rule the results reader reads a table folder by
			continue
		}
		files = append(files, filepath.Join(path, name))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("data: %w: no .parquet files in the folder %s", ErrNotFound, absPath(path))
	}
	return files, nil // os.ReadDir sorts by name
}

type parquetLoader struct {
	opt    ParquetOptions
	where  map[string]any
	seen   map[string]map[string]bool // where column -> values met (a few), for the no-match error
	x      []float32
	labels []int32
	rows   int
	dim    int          // 0 until the first row
	dimAt  string       // "row R of FILE": where dim was set
	column string       // the column chosen in the first file
	f16    map[int]bool // leaf column indexes of the current file annotated FLOAT16
}

// vectorColumn is a top-level list column of a file.
type vectorColumn struct {
	name string
	leaf parquet.LeafColumn
	kind parquet.Kind
	desc string // list<float32>, list<double>, ...
	f16  bool   // list<float16>: FIXED_LEN_BYTE_ARRAY(2) annotated FLOAT16
}

// vectorKinds is what a vector column's elements may be, for messages.
const vectorKinds = "list<float32> or list<float16>"

// isVector reports whether a list column holds float32 or float16 elements.
func (c vectorColumn) isVector() bool { return c.kind == parquet.Float || c.f16 }

func (ld *parquetLoader) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(int(min(4<<20, max(fi.Size(), 4<<10))))) // no 4 MB buffer for a 2 kB file
	if err != nil {
		return fmt.Errorf("data: %s: %w: not a readable parquet file (%v)", absPath(path), ErrBadFormat, err)
	}
	schema := pf.Schema()
	ld.f16 = float16Leaves(pf.Metadata())
	vec, err := ld.chooseColumn(path, schema)
	if err != nil {
		return err
	}
	label, hasLabel := scalarColumn(schema, "label")
	if hasLabel && label.Node.Type().Kind() != parquet.Int32 && label.Node.Type().Kind() != parquet.Int64 {
		hasLabel = false // a label column that is not an integer is not a class label
	}
	whereCols := make(map[string]parquet.LeafColumn, len(ld.where))
	for _, key := range sortedWhereKeys(ld.where) {
		c, ok := scalarColumn(schema, key)
		if !ok {
			return fmt.Errorf("data: %s: dataset.where.%s: the file has no column %q with one value per row; its columns: %s",
				absPath(path), key, key, describeColumns(schema))
		}
		if err := whereTypeMatches(key, ld.where[key], c.Node.Type().Kind()); err != nil {
			return fmt.Errorf("data: %s: %w", absPath(path), err)
		}
		whereCols[key] = c
	}
	rows, err := checkFooterClaims(pf.Metadata(), fi.Size(), vec.leaf.ColumnIndex)
	if err != nil {
		return fmt.Errorf("data: %s: %w: %v", absPath(path), ErrBadFormat, err)
	}
	if ld.x == nil && len(ld.where) == 0 {
		// No filter: the row count is known (and bounded by the file's size, see
		// checkFooterClaims), so the buffer is allocated once (after the first row
		// tells the length, see readVectors).
		ld.labels = make([]int32, 0, rows)
	}
	var fileRow int64
	md := pf.Metadata()
	for rgi, rg := range pf.RowGroups() {
		n := rg.NumRows()
		chunks := rg.ColumnChunks()
		// The page headers of every chunk read must agree with the footer before
		// parquet-go sizes buffers by them.
		check := map[int]int64{vec.leaf.ColumnIndex: chunkMeta(md, rgi, vec.leaf.ColumnIndex).NumValues}
		if hasLabel {
			check[label.ColumnIndex] = n
		}
		for _, c := range whereCols {
			check[c.ColumnIndex] = n
		}
		for col, maxValues := range check {
			cm := chunkMeta(md, rgi, col)
			if cm == nil {
				return fmt.Errorf("data: %s: %w: the footer has no entry for column %d of row group %d", absPath(path), ErrBadFormat, col, rgi)
			}
			if err := checkPageHeaders(f, cm, fi.Size(), parquetLimit(fi.Size()), maxValues); err != nil {
				return fmt.Errorf("data: %s: %w: row group %d, column %d: %v", absPath(path), ErrBadFormat, rgi, col, err)
			}
		}
		var keep []bool
		if len(ld.where) > 0 {
			keep = make([]bool, n)
			for i := range keep {
				keep[i] = true
			}
			for _, key := range sortedWhereKeys(ld.where) {
				if err := ld.filter(path, key, chunks[whereCols[key].ColumnIndex], keep); err != nil {
					return err
				}
			}
		}
		var labels []int32
		if hasLabel {
			if labels, err = readLabelColumn(path, chunks[label.ColumnIndex], n, fileRow); err != nil {
				return err
			}
		}
		before := ld.rows
		if err := ld.readVectors(path, vec, chunks[vec.leaf.ColumnIndex], chunkMeta(md, rgi, vec.leaf.ColumnIndex), n, fileRow, keep); err != nil {
			return err
		}
		for i := int64(0); i < n; i++ {
			if keep != nil && !keep[i] {
				continue
			}
			if labels != nil {
				ld.labels = append(ld.labels, labels[i])
			} else {
				ld.labels = append(ld.labels, NoLabel)
			}
		}
		if len(ld.labels) != ld.rows {
			return fmt.Errorf("data: %s: %w: row group of %d rows gave %d vectors", absPath(path), ErrBadFormat, n, ld.rows-before)
		}
		fileRow += n
	}
	return nil
}

// maxParquetExpansion bounds how many bytes of decoded vectors a parquet file may
// hold per byte of file. Real float data compresses a few times at most (very sparse
// activations, dictionary + RLE + zstd, a few tens of times); a footer claiming more
// is damaged or forged, and the loader refuses it before allocating anything sized by
// it (a 28 kB file claiming 2^28 rows once asked for 17 GB and crashed the runtime).
const maxParquetExpansion = 1024

// parquetLimit is the most bytes a file of size bytes may decode to.
func parquetLimit(size int64) int64 { return size*maxParquetExpansion + 1<<20 }

// checkFooterClaims checks the row and value counts a file's footer claims before
// any buffer is sized by them: they must agree with each other, and what they would
// decode to (4 bytes per vector value, 9 per row for labels and filters) must fit in
// maxParquetExpansion times the file's size. It returns the file's row count.
func checkFooterClaims(md *format.FileMetaData, size int64, vecColumn int) (int64, error) {
	var rows, values int64
	for i, rg := range md.RowGroups {
		if rg.NumRows < 0 {
			return 0, fmt.Errorf("the footer says row group %d holds %d rows", i, rg.NumRows)
		}
		if vecColumn >= len(rg.Columns) {
			return 0, fmt.Errorf("the footer lists %d columns in row group %d, the schema more", len(rg.Columns), i)
		}
		cm := &rg.Columns[vecColumn].MetaData
		// A row of a list column takes at least one value (or null) in its leaf.
		if cm.NumValues < rg.NumRows {
			return 0, fmt.Errorf("the footer says row group %d holds %d rows but its vector column %d values", i, rg.NumRows, cm.NumValues)
		}
		if cm.TotalCompressedSize < 0 || cm.TotalCompressedSize > size {
			return 0, fmt.Errorf("the footer says row group %d's vector column takes %d bytes, in a file of %d", i, cm.TotalCompressedSize, size)
		}
		rows += rg.NumRows
		values += cm.NumValues
		if rows > math.MaxInt32*8 || values > math.MaxInt64/8 {
			return 0, fmt.Errorf("the footer claims %d rows, %d values", rows, values)
		}
	}
	if rows != md.NumRows {
		return 0, fmt.Errorf("the footer says the file holds %d rows but its row groups %d", md.NumRows, rows)
	}
	limit := parquetLimit(size)
	if need := values*4 + rows*9; need > limit {
		return 0, fmt.Errorf("the footer claims %d rows and %d vector values (%d MB decoded) in a file of %d bytes, more than %d times its size: the footer is damaged or forged",
			rows, values, need>>20, size, maxParquetExpansion)
	}
	return rows, nil
}

// chooseColumn finds the vector column of a file: opt.Column, or the only
// list<float32> one.
func (ld *parquetLoader) chooseColumn(path string, schema *parquet.Schema) (vectorColumn, error) {
	var lists []vectorColumn
	for _, field := range schema.Fields() {
		if c, ok := listColumn(schema, field); ok {
			if ld.f16[c.leaf.ColumnIndex] && c.kind == parquet.FixedLenByteArray && c.leaf.Node.Type().Length() == 2 {
				c.desc, c.f16 = "list<float16>", true // parquet-go reads it as FIXED_LEN_BYTE_ARRAY(2)
			}
			lists = append(lists, c)
		}
	}
	want := ld.opt.Column
	if want == "" {
		var floats []string
		var chosen vectorColumn
		for _, c := range lists {
			if c.isVector() {
				floats, chosen = append(floats, c.name), c
			}
		}
		switch {
		case len(floats) == 1:
			want = chosen.name
		case len(floats) > 1:
			return vectorColumn{}, fmt.Errorf("data: %s: several list<float32> columns (%s): choose one with dataset.column",
				absPath(path), strings.Join(floats, ", ")) // (or list<float16>)
		case len(lists) == 1:
			want = lists[0].name // refused below, with its element type
		default:
			return vectorColumn{}, fmt.Errorf("data: %s: no list<float32> column of vectors (nor list<float16>); the file's columns: %s",
				absPath(path), describeColumns(schema))
		}
	}
	if ld.column != "" && want != ld.column {
		return vectorColumn{}, fmt.Errorf("data: %s: the vectors are in column %q, but in the folder's earlier files in %q: name one with dataset.column",
			absPath(path), want, ld.column)
	}
	for _, c := range lists {
		if c.name != want {
			continue
		}
		if !c.isVector() {
			return vectorColumn{}, fmt.Errorf("data: %s: column %q is %s; allowed: %s (in pandas/numpy: .astype(np.float32))",
				absPath(path), want, c.desc, vectorKinds)
		}
		ld.column = want
		return c, nil
	}
	return vectorColumn{}, fmt.Errorf("data: %s: dataset.column %q is not a list column of the file; its columns: %s",
		absPath(path), want, describeColumns(schema))
}

// listColumn reports whether a top-level field is a list of numbers (one leaf,
// repeated once).
func listColumn(schema *parquet.Schema, field parquet.Field) (vectorColumn, bool) {
	var leafPath []string
	n := 0
	for _, p := range schema.Columns() {
		if p[0] == field.Name() {
			leafPath, n = p, n+1
		}
	}
	if n != 1 {
		return vectorColumn{}, false
	}
	leaf, ok := schema.Lookup(leafPath...)
	if !ok || leaf.MaxRepetitionLevel != 1 {
		return vectorColumn{}, false
	}
	return vectorColumn{name: field.Name(), leaf: leaf, kind: leaf.Node.Type().Kind(),
		desc: "list<" + typeName(leaf.Node.Type()) + ">"}, true
}

// float16Leaves finds the leaf columns (by index) whose footer schema element carries
// the FLOAT16 logical type, which parquet-go's schema does not surface.
func float16Leaves(md *format.FileMetaData) map[int]bool {
	out := map[int]bool{}
	leaf := 0
	for i, e := range md.Schema {
		if i == 0 { // the root
			continue
		}
		if n, ok := e.NumChildren.Get(); ok && n > 0 {
			continue
		}
		if _, ok := e.LogicalType.Value.(*format.Float16Type); ok {
			out[leaf] = true
		}
		leaf++
	}
	return out
}

// scalarColumn finds a top-level column with one value per row.
func scalarColumn(schema *parquet.Schema, name string) (parquet.LeafColumn, bool) {
	c, ok := schema.Lookup(name)
	if !ok || c.MaxRepetitionLevel != 0 {
		return parquet.LeafColumn{}, false
	}
	return c, true
}

// typeName names a parquet leaf type the way pandas/pyarrow users know it.
func typeName(t parquet.Type) string {
	if lt := t.LogicalType(); lt != nil {
		switch lt.Value.(type) {
		case *format.StringType:
			return "string"
		case *format.Float16Type:
			return "float16"
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return "bool"
	case parquet.Int32:
		return "int32"
	case parquet.Int64:
		return "int64"
	case parquet.Int96:
		return "int96"
	case parquet.Float:
		return "float32"
	case parquet.Double:
		return "double"
	case parquet.ByteArray:
		return "binary"
	}
	return t.String()
}

// describeColumns lists a file's top-level columns with their types.
func describeColumns(schema *parquet.Schema) string {
	var parts []string
	for _, field := range schema.Fields() {
		if c, ok := listColumn(schema, field); ok {
			parts = append(parts, field.Name()+" ("+c.desc+")")
		} else if c, ok := scalarColumn(schema, field.Name()); ok {
			parts = append(parts, field.Name()+" ("+typeName(c.Node.Type())+")")
		} else {
			parts = append(parts, field.Name()+" (nested)")
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// chunkMeta is the footer's description of one column chunk (nil if absent).
func chunkMeta(md *format.FileMetaData, rowGroup, column int) *format.ColumnMetaData {
	if rowGroup >= len(md.RowGroups) || column >= len(md.RowGroups[rowGroup].Columns) {
		return nil
	}
	return &md.RowGroups[rowGroup].Columns[column].MetaData
}

// readVectors appends the kept rows of one column chunk of vectors to ld.x. It walks
// the pages' repetition levels (0 starts a row) and definition levels (below the
// maximum: a null or empty list, or a null element), and takes the values from the
// page's buffer (or its dictionary) without boxing them.
//
// The decoded chunk is checked against what its writer recorded in the footer: the
// number of values and, where present, the exact minimum and maximum. A decoder bug
// (parquet-go v0.32.0 read lz4 dictionary pages as zeros, issue 23) or a damaged page
// then fails by name instead of training on wrong numbers.
func (ld *parquetLoader) readVectors(path string, vec vectorColumn, chunk parquet.ColumnChunk, meta *format.ColumnMetaData, rows, firstRow int64, keep []bool) error {
	pages := chunk.Pages()
	defer pages.Close()
	maxDef := byte(vec.leaf.MaxDefinitionLevel)
	row := int64(-1) // row of the chunk being read
	inRow := 0       // values read of that row
	bad := func(format string, args ...any) error {
		return fmt.Errorf("data: %s: %w: row %d, column %q: %s", absPath(path), ErrBadFormat, firstRow+row, vec.name, fmt.Sprintf(format, args...))
	}
	endRow := func() error {
		if row < 0 {
			return nil
		}
		if ld.dim == 0 {
			ld.dim, ld.dimAt = inRow, fmt.Sprintf("row %d of %s", firstRow+row, absPath(path))
			if inRow == 0 {
				return bad("an empty vector (expected float32 values)")
			}
			if keep == nil {
				want := rows * int64(inRow)
				if meta != nil { // bounded by checkFooterClaims; a valid chunk holds exactly rows×dim
					want = min(want, meta.NumValues)
				}
				ld.x = slices.Grow(ld.x, int(want))
			}
		}
		if inRow != ld.dim {
			return bad("%d values, expected %d (the length of %s)", inRow, ld.dim, ld.dimAt)
		}
		return nil
	}
	var dictVals, scratch []float32
	var levels int64                                      // values + nulls decoded, against meta.NumValues
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1)) // of every value, kept or not
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("data: %s: %w: reading column %q: %v", absPath(path), ErrBadFormat, vec.name, err)
		}
		reps, defs := page.RepetitionLevels(), page.DefinitionLevels()
		n := int(page.NumValues())
		levels += int64(n)
		if len(reps) != n || len(defs) != n {
			parquet.Release(page)
			return fmt.Errorf("data: %s: %w: column %q: a page of %d values has %d repetition and %d definition levels",
				absPath(path), ErrBadFormat, vec.name, n, len(reps), len(defs))
		}
		if i := slices.IndexFunc(defs, func(d byte) bool { return d != maxDef }); i >= 0 {
			// Find the row of the null for the message.
			for _, r := range reps[:i+1] {
				if r == 0 {
					row++
				}
			}
			parquet.Release(page)
			return bad("a null or empty vector, or a null element (expected %s float32 values, none null)", dimWord(ld.dim))
		}
		vals, err := pageValues(page, vec.f16, &dictVals, &scratch)
		if err != nil {
			parquet.Release(page)
			if errors.Is(err, errDictIndex) {
				return bad("%v", err)
			}
			return fmt.Errorf("data: %s: %w: column %q: %v", absPath(path), ErrBadFormat, vec.name, err)
		}
		if len(vals) != n {
			parquet.Release(page)
			return bad("a page holds %d values but %d levels", len(vals), n)
		}
		lo, hi = floatRange(vals, lo, hi)
		// Walk the page a row segment at a time: a segment runs to the next repetition
		// level 0 (found with a vectorized byte search) and is copied in one piece.
		for i := 0; i < n; {
			if reps[i] == 0 {
				if err := endRow(); err != nil {
					parquet.Release(page)
					return err
				}
				row++
				inRow = 0
				if row >= rows {
					parquet.Release(page)
					return fmt.Errorf("data: %s: %w: column %q holds more rows than its row group (%d)", absPath(path), ErrBadFormat, vec.name, rows)
				}
				if keep == nil || keep[row] {
					ld.rows++
				}
			}
			j := n
			if k := bytes.IndexByte(reps[i+1:], 0); k >= 0 {
				j = i + 1 + k
			}
			if keep == nil || keep[row] {
				seg := vals[i:j]
				if k := firstNonFinite(seg); k >= 0 {
					inRow += k
					parquet.Release(page)
					return bad("element %d is %v; every value must be finite", inRow, seg[k])
				}
				ld.x = append(ld.x, seg...)
			}
			inRow += j - i
			i = j
		}
		parquet.Release(page)
	}
	if err := endRow(); err != nil {
		return err
	}
	if err := checkChunkMeta(meta, vec.f16, levels, lo, hi); err != nil {
		return fmt.Errorf("data: %s: %w: column %q, rows %d to %d: %v", absPath(path), ErrBadFormat, vec.name, firstRow, firstRow+rows-1, err)
	}
	if row+1 != rows {
		return fmt.Errorf("data: %s: %w: column %q holds %d rows, its row group %d", absPath(path), ErrBadFormat, vec.name, row+1, rows)
	}
	return nil
}

// checkChunkMeta compares a decoded float32 (or float16: f16) column chunk (levels
// values, minimum lo, maximum hi, as float32) with its footer entry. Writers record
// exact float statistics (pyarrow, parquet-go, polars, DuckDB); only
// min_value/max_value (not the deprecated min/max, whose order some writers got
// wrong) are used.
func checkChunkMeta(meta *format.ColumnMetaData, f16 bool, levels int64, lo, hi float32) error {
	if meta == nil {
		return nil
	}
	if meta.NumValues != levels {
		return fmt.Errorf("decoded %d values, the footer says %d", levels, meta.NumValues)
	}
	st := meta.Statistics
	var smin, smax float32
	switch {
	case levels == 0:
		return nil
	case !f16 && len(st.MinValue) == 4 && len(st.MaxValue) == 4:
		smin = math.Float32frombits(binary.LittleEndian.Uint32(st.MinValue))
		smax = math.Float32frombits(binary.LittleEndian.Uint32(st.MaxValue))
	case f16 && len(st.MinValue) == 2 && len(st.MaxValue) == 2:
		smin = float16to32(binary.LittleEndian.Uint16(st.MinValue))
		smax = float16to32(binary.LittleEndian.Uint16(st.MaxValue))
	default:
		return nil
	}
	if smin != smin || smax != smax { // NaN statistics say nothing
		return nil
	}
	if lo != smin || hi != smax {
		return fmt.Errorf("decoded values range over [%v, %v], but the writer recorded [%v, %v]: the file is damaged or its pages are not decoded correctly (its codec and page encoding: %s)",
			lo, hi, smin, smax, describeEncoding(meta))
	}
	return nil
}

// describeEncoding names a column chunk's codec and encodings for an error message.
func describeEncoding(meta *format.ColumnMetaData) string {
	var enc []string
	for _, e := range meta.Encoding {
		enc = append(enc, e.String())
	}
	return meta.Codec.String() + ", " + strings.Join(enc, "/")
}

func dimWord(dim int) string {
	if dim == 0 {
		return "the vector length of"
	}
	return fmt.Sprint(dim)
}

// readLabelColumn reads an integer label column chunk (null: NoLabel).
func readLabelColumn(path string, chunk parquet.ColumnChunk, rows, firstRow int64) ([]int32, error) {
	out := make([]int32, 0, rows)
	err := scanScalars(chunk, func(v parquet.Value) error {
		switch {
		case v.IsNull():
			out = append(out, NoLabel)
		case v.Kind() == parquet.Int32:
			out = append(out, v.Int32())
		default:
			l := v.Int64()
			if l < math.MinInt32 || l > math.MaxInt32 {
				return fmt.Errorf("data: %s: %w: row %d, column \"label\": %d does not fit in int32", absPath(path), ErrBadFormat, firstRow+int64(len(out)), l)
			}
			out = append(out, int32(l))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != rows {
		return nil, fmt.Errorf("data: %s: %w: column \"label\" holds %d values in a row group of %d rows", absPath(path), ErrBadFormat, len(out), rows)
	}
	return out, nil
}

// filter clears keep[i] where the row's value of column key differs from where[key].
func (ld *parquetLoader) filter(path, key string, chunk parquet.ColumnChunk, keep []bool) error {
	want := ld.where[key]
	seen := ld.seen[key]
	if seen == nil {
		seen = map[string]bool{}
		ld.seen[key] = seen
	}
	i := 0
	err := scanScalars(chunk, func(v parquet.Value) error {
		if i >= len(keep) {
			return fmt.Errorf("data: %s: %w: column %q holds more values than its row group's %d rows", absPath(path), ErrBadFormat, key, len(keep))
		}
		got := scalarOf(v)
		if len(seen) < 20 {
			seen[fmt.Sprint(got)] = true
		}
		if !sameScalar(got, want) {
			keep[i] = false
		}
		i++
		return nil
	})
	if err == nil && i != len(keep) {
		err = fmt.Errorf("data: %s: %w: column %q holds %d values in a row group of %d rows", absPath(path), ErrBadFormat, key, i, len(keep))
	}
	return err
}

// scanScalars calls fn with each value of a column chunk.
func scanScalars(chunk parquet.ColumnChunk, fn func(parquet.Value) error) error {
	pages := chunk.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 4096)
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r := page.Values()
		for {
			n, err := r.ReadValues(buf)
			for _, v := range buf[:n] {
				if ferr := fn(v); ferr != nil {
					parquet.Release(page)
					return ferr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(page)
				return err
			}
		}
		parquet.Release(page)
	}
}

// scalarOf turns a parquet value into a Go string, int64, bool or float64 (nil: null).
func scalarOf(v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32:
		return int64(v.Int32())
	case parquet.Int64:
		return v.Int64()
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	}
	return v.String()
}

// sameScalar compares a column value with a where value (both normalized).
func sameScalar(got, want any) bool {
	switch g := got.(type) {
	case int64:
		switch w := want.(type) {
		case int64:
			return g == w
		case float64:
			return float64(g) == w
		}
		return false
	case float64:
		switch w := want.(type) {
		case int64:
			return g == float64(w)
		case float64:
			return g == w
		}
		return false
	}
	return got == want
}

// normalizeWhere maps where values to string, int64, bool or float64 (integral
// floats become int64), refusing other types.
func normalizeWhere(where map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(where))
	for k, v := range where {
		rv := reflect.ValueOf(v)
		switch x := v.(type) {
		case string, bool:
			out[k] = x
		case int, int8, int16, int32, int64:
			out[k] = rv.Int()
		case uint, uint8, uint16, uint32, uint64:
			if rv.Uint() > math.MaxInt64 {
				return nil, fmt.Errorf("data: dataset.where.%s: %d is out of the int64 range", k, x)
			}
			out[k] = int64(rv.Uint())
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
				out[k] = int64(x)
			} else if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("data: dataset.where.%s: %v matches nothing; allowed: a string, integer, bool or finite number", k, x)
			} else {
				out[k] = x
			}
		default:
			return nil, fmt.Errorf("data: dataset.where.%s: %v (%T): allowed: a string, integer, bool or number", k, v, v)
		}
	}
	return out, nil
}

// whereTypeMatches refuses a where value that cannot equal a value of a column of kind.
func whereTypeMatches(key string, want any, kind parquet.Kind) error {
	ok := false
	var colType string
	switch kind {
	case parquet.Boolean:
		_, ok = want.(bool)
		colType = "bool"
	case parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
		switch want.(type) {
		case int64, float64:
			ok = true
		}
		colType = "numbers"
	case parquet.ByteArray, parquet.FixedLenByteArray:
		_, ok = want.(string)
		colType = "strings"
	default:
		colType = kind.String()
	}
	if !ok {
		return fmt.Errorf("dataset.where.%s: %v (%T) can never equal column %q, which holds %s", key, want, want, key, colType)
	}
	return nil
}

func sortedWhereKeys(where map[string]any) []string {
	keys := make([]string, 0, len(where))
	for k := range where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describeWhere(where map[string]any) string {
	var parts []string
	for _, k := range sortedWhereKeys(where) {
		parts = append(parts, fmt.Sprintf("%s = %v", k, where[k]))
	}
	return strings.Join(parts, ", ")
}

func (ld *parquetLoader) describeSeen() string {
	var parts []string
	for _, k := range sortedWhereKeys(ld.where) {
		vals := make([]string, 0, len(ld.seen[k]))
		for v := range ld.seen[k] {
			vals = append(vals, v)
		}
		sort.Strings(vals)
		parts = append(parts, fmt.Sprintf("%s: %s", k, strings.Join(vals, ", ")))
	}
	return strings.Join(parts, "; ")
}

// floatRange widens [lo, hi] to hold every value of x but NaN (which writers'
// statistics leave out; comparisons with NaN are false).
func floatRange(x []float32, lo, hi float32) (float32, float32) {
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// firstNonFinite returns the index of the first NaN or ±Inf of x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// errDictIndex marks a dictionary index out of range (pageValues).
var errDictIndex = errors.New("dictionary index out of range")

// pageValues returns the float values of one page of a vector column: float32 as
// stored, float16 (f16: FIXED_LEN_BYTE_ARRAY(2)) converted exactly. A dictionary-encoded
// page's indices are looked up in *dict, decoded from the page's dictionary on first use
// (one dictionary per column chunk: the caller resets *dict for the next chunk).
// *scratch is reused for converted or looked-up values; the result may alias it or the
// page's own buffer, so it is valid until the page is released or pageValues called
// again.
func pageValues(page parquet.Page, f16 bool, dict, scratch *[]float32) ([]float32, error) {
	if d := page.Dictionary(); d != nil {
		if *dict == nil {
			var vals []float32
			if f16 {
				vals = float16Values(d.Page().Data(), nil)
			} else {
				dv := d.Page().Data()
				vals = slices.Clone(dv.Float())
			}
			if len(vals) == 0 || len(vals) != d.Len() {
				return nil, fmt.Errorf("its dictionary page decodes to %d values (dictionary length %d); the file is damaged or its encoding is not read correctly",
					len(vals), d.Len())
			}
			*dict = vals
		}
		iv := page.Data()
		idx := iv.Int32()
		out := slices.Grow((*scratch)[:0], len(idx))[:len(idx)]
		for i, j := range idx {
			if j < 0 || int(j) >= len(*dict) {
				return nil, fmt.Errorf("%w: %d", errDictIndex, j)
			}
			out[i] = (*dict)[j]
		}
		*scratch = out
		return out, nil
	}
	if f16 {
		*scratch = float16Values(page.Data(), (*scratch)[:0])
		return *scratch, nil
	}
	v := page.Data()
	return v.Float(), nil
}

// float16Values appends the float16 values of a FIXED_LEN_BYTE_ARRAY(2) page, as
// float32, to dst.
func float16Values(v encoding.Values, dst []float32) []float32 {
	b, size := v.FixedLenByteArray()
	if size != 2 {
		return dst
	}
	for i := 0; i+1 < len(b); i += 2 {
		dst = append(dst, float16to32(binary.LittleEndian.Uint16(b[i:])))
	}
	return dst
}
