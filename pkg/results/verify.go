package results

import (
	"encoding/json"
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
)

// TableRowsKey is the key-value metadata of a run's runs/ file that records how many
// rows each of the run's other tables got, as JSON ({"metrics": 40, "units": 800}; a
// table missing from it got none and has no file). Verify checks the files against it.
const TableRowsKey = "table_rows"

// rowSchema is the schema a table's files must have (Registry's row type; nil for a
// table that is not declared).
func rowSchema(table string) *parquet.Schema {
	t, ok := Lookup(table)
	if !ok {
		return nil
	}
	return t.Schema()
}

// checkSchema reports whether a Parquet file can be read as rows of want without
// inventing values: every column of want must be in the file with the same physical
// type (and time unit), the same nesting (a list is a list), and no nulls where want
// has no room for one (a null read into a float64 would become 0). Extra columns are
// fine, and so is a missing nullable top-level column (one added since, such as the
// runs table's resumed_from_epoch): it reads as null. The error lists every problem, with the columns and types found and expected.
func checkSchema(pf *parquet.File, want *parquet.Schema) error {
	var problems []string
	for _, path := range want.Columns() {
		w, _ := want.Lookup(path...)
		name := strings.Join(path, ".")
		g, ok := pf.Schema().Lookup(path...)
		if !ok && w.Node.Optional() && len(path) == 1 {
			continue // a nullable column added since the file was written reads as null
		}
		if !ok {
			if top, found := pf.Schema().Lookup(path[0]); found && len(path) > 1 {
				problems = append(problems, fmt.Sprintf("column %s is %s, expected a list", path[0], typeName(top.Node)))
			} else {
				problems = append(problems, fmt.Sprintf("no column %s", name))
			}
			continue
		}
		if gk, wk := g.Node.Type().Kind(), w.Node.Type().Kind(); gk != wk || g.Node.Leaf() != w.Node.Leaf() {
			problems = append(problems, fmt.Sprintf("column %s is %s, expected %s", name, typeName(g.Node), typeName(w.Node)))
			continue
		}
		if wu, ok := timestampUnit(w.Node); ok {
			if gu, ok := timestampUnit(g.Node); !ok || gu != wu {
				problems = append(problems, fmt.Sprintf("column %s is %s, expected %s", name, typeName(g.Node), typeName(w.Node)))
				continue
			}
		}
		if g.MaxRepetitionLevel != w.MaxRepetitionLevel {
			problems = append(problems, fmt.Sprintf("column %s is nested %d deep, expected %d (a list where a value is expected, or the reverse)",
				name, g.MaxRepetitionLevel, w.MaxRepetitionLevel))
			continue
		}
		if g.MaxDefinitionLevel > w.MaxDefinitionLevel {
			if n, known := nullCount(pf, g.ColumnIndex); !known {
				problems = append(problems, fmt.Sprintf("column %s may hold nulls (its file records no null count), and a null would read as 0", name))
			} else if n > 0 {
				problems = append(problems, fmt.Sprintf("column %s holds %d nulls, which would read as 0", name, n))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("not a file of this table: %s", strings.Join(problems, "; "))
	}
	return nil
}

func typeName(n parquet.Node) string {
	if !n.Leaf() {
		return "a group"
	}
	if u, ok := timestampUnit(n); ok {
		return "timestamp(" + u + ")"
	}
	if n.Type().Kind() == parquet.ByteArray {
		return "string"
	}
	return strings.ToLower(n.Type().Kind().String())
}

// timestampUnit is a timestamp column's unit; ok is false for other columns.
func timestampUnit(n parquet.Node) (unit string, ok bool) {
	lt := n.Type().LogicalType()
	if lt == nil {
		return "", false
	}
	ts, ok := lt.Value.(*format.TimestampType)
	if !ok {
		return "", false
	}
	return ts.Unit.String(), true
}

// nullCount sums a column's null counts over the row groups; known is false when a
// row group has no statistics for it (writers need not write them).
func nullCount(pf *parquet.File, col int) (n int64, known bool) {
	for _, rg := range pf.Metadata().RowGroups {
		if col >= len(rg.Columns) {
			return 0, false
		}
		md := rg.Columns[col].MetaData
		st := md.Statistics
		if st.NullCount == 0 && st.Min == nil && st.Max == nil && st.MinValue == nil && st.MaxValue == nil && md.NumValues > 0 {
			return 0, false
		}
		n += st.NullCount
	}
	return n, true
}

// openChecked opens a table file and checks its schema against want (nil: no check).
// The caller closes the file.
func openChecked(path string, want *parquet.Schema) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.Size() == 0 {
		f.Close()
		return nil, nil, errors.New("the file is empty (0 bytes), not a Parquet file")
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("not a readable Parquet file (%d bytes): %w", st.Size(), err)
	}
	if want != nil {
		if err := checkSchema(pf, want); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return f, pf, nil
}

// Damage is a file of a sweep folder that cannot be trusted.
type Damage struct {
	RunID   string // the run whose file it is; "" for a compacted part (many runs)
	Path    string
	Problem string
}

func (d Damage) String() string {
	if d.RunID == "" {
		return fmt.Sprintf("%s: %s", d.Path, d.Problem)
	}
	return fmt.Sprintf("run %s: %s: %s", d.RunID, d.Path, d.Problem)
}

// statusRow is the part of a runs/ row that says whether the run is done.
type statusRow struct {
	RunID  string `parquet:"run_id"`
	Status string `parquet:"status"`
}

// Verify checks the files of the sweep folder dir that hold finished runs (completed
// or diverged, which --resume would not run again): each must be a readable Parquet
// file (magic number and footer), with the table's columns, and a finished run's
// per-run files must hold the rows its runs/ file records (TableRowsKey; files written
// before it was recorded are only checked for the rest). Compacted parts are checked
// the same way, less the row counts. It returns what is damaged, by file; an error
// only when the folder cannot be listed.
func Verify(dir string) ([]Damage, error) {
	var damage []Damage
	runFiles, err := tableFiles(dir, RunsTable, Filter{})
	if err != nil {
		return nil, err
	}
	type done struct {
		rows map[string]int64 // nil: not recorded
	}
	finished := map[string]done{}
	for _, path := range runFiles {
		name := filepath.Base(path)
		id := ""
		if !strings.HasPrefix(name, partPrefix) {
			id = strings.TrimSuffix(name, ".parquet")
		}
		rows, meta, err := readStatusFile(path)
		if err != nil {
			damage = append(damage, Damage{RunID: id, Path: path, Problem: err.Error()})
			continue
		}
		if id == "" {
			continue
		}
		if len(rows) != 1 || rows[0].RunID != id {
			damage = append(damage, Damage{RunID: id, Path: path, Problem: fmt.Sprintf("expected one row, of run %s; found %d", id, len(rows))})
			continue
		}
		if !Done(rows[0].Status) {
			continue
		}
		d := done{}
		if s, ok := meta[TableRowsKey]; ok {
			if err := json.Unmarshal([]byte(s), &d.rows); err != nil {
				damage = append(damage, Damage{RunID: id, Path: path, Problem: fmt.Sprintf("its %s metadata %q is not valid: %v", TableRowsKey, s, err)})
				continue
			}
		}
		finished[id] = d
	}
	ids := make([]string, 0, len(finished))
	for id := range finished {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, table := range Tables {
		if table == RunsTable {
			continue
		}
		tdir := tableDir(dir, table)
		entries, err := os.ReadDir(tdir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("results: %w", err)
		}
		hasParts := false
		for _, e := range entries {
			if !e.IsDir() && IsParquetFile(e.Name()) && strings.HasPrefix(e.Name(), partPrefix) {
				hasParts = true
				path := filepath.Join(tdir, e.Name())
				if f, _, err := openChecked(path, rowSchema(table)); err != nil {
					damage = append(damage, Damage{Path: path, Problem: err.Error()})
				} else {
					f.Close()
				}
			}
		}
		for _, id := range ids {
			want, recorded := finished[id].rows[table]
			path := filepath.Join(tdir, id+".parquet")
			f, pf, err := openChecked(path, rowSchema(table))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				// Rows recorded but no file: missing, unless the table is compacted
				// (a compaction stopped before its runs table: the rows are in a part).
				if recorded && want > 0 && !hasParts {
					damage = append(damage, Damage{RunID: id, Path: path, Problem: fmt.Sprintf("missing; the run's runs/ file records %d rows", want)})
				}
			case err != nil:
				damage = append(damage, Damage{RunID: id, Path: path, Problem: err.Error()})
			default:
				if got := pf.NumRows(); finished[id].rows != nil && got != want {
					damage = append(damage, Damage{RunID: id, Path: path, Problem: fmt.Sprintf("holds %d rows; the run's runs/ file records %d", got, want)})
				}
				f.Close()
			}
		}
	}
	return damage, nil
}

// readStatusFile reads the run ids and statuses of a runs file, and its key-value
// metadata.
func readStatusFile(path string) ([]statusRow, map[string]string, error) {
	f, pf, err := openChecked(path, parquet.SchemaOf(statusRow{}))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	meta := map[string]string{}
	for _, kv := range pf.Metadata().KeyValueMetadata {
		meta[kv.Key] = kv.Value
	}
	rows := make([]statusRow, 0, pf.NumRows())
	for _, rg := range pf.RowGroups() {
		r := parquet.NewGenericRowGroupReader[statusRow](rg)
		buf := make([]statusRow, 64)
		for {
			n, err := r.Read(buf)
			rows = append(rows, buf[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return nil, nil, err
			}
		}
		r.Close()
	}
	return rows, meta, nil
}

// removeStaleTemps removes what killed writers left in the table folders: temporary
// files (killed while writing), and the committed files of runs that have no runs/
// row (killed between committing a run's tables and writing its row) or that failed
// (written by an older version), so that pandas, which reads whole folders, does not
// see them either. A file is removed only if its key-value metadata names the run its
// file name does: a file of anyone else is left alone. Only for a caller that holds the
// sweep folder exclusively: then no live process is writing them.
func removeStaleTemps(dir string) {
	for _, table := range Tables {
		stale, _ := filepath.Glob(filepath.Join(dir, table, ".*.parquet.*.tmp"))
		for _, p := range stale {
			os.Remove(p)
		}
	}
	statuses, err := ReadStatuses(dir)
	if err != nil {
		return
	}
	for _, table := range Tables {
		if table == RunsTable {
			continue
		}
		entries, _ := os.ReadDir(filepath.Join(dir, table))
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !IsParquetFile(name) || strings.HasPrefix(name, partPrefix) {
				continue
			}
			id := strings.TrimSuffix(name, ".parquet")
			if st := statuses[id]; st != "" && st != StatusFailed {
				continue
			}
			if p := filepath.Join(dir, table, name); fileOfRun(p) == id {
				os.Remove(p)
			}
		}
	}
}

// fileOfRun is the run_id key-value metadata of a Parquet file ("" if none or unreadable).
func fileOfRun(path string) string {
	f, pf, err := openChecked(path, nil)
	if err != nil {
		return ""
	}
	defer f.Close()
	id, _ := pf.Lookup("run_id")
	return id
}
