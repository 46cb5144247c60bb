package writer

import (
	"fmt"
	"math"
	"reflect"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

// runRowType builds the runs/ row type: RunInfo's columns with one column per swept
// parameter inserted after run_index (int64 for an integer, double for another
// number, else string: pkg/sweep gives every run of a path the same kind).
// Parquet-go's generic writer takes the schema from this struct.
func runRowType(params []sweep.Param) reflect.Type {
	info := reflect.TypeOf(results.RunInfo{})
	var fields []reflect.StructField
	for i := 0; i < info.NumField(); i++ {
		fields = append(fields, info.Field(i))
		if info.Field(i).Name == "RunIndex" {
			for j, p := range params {
				t := reflect.TypeOf("")
				if _, ok := integer(p.Value); ok {
					t = reflect.TypeOf(int64(0))
				} else if _, ok := number(p.Value); ok {
					t = reflect.TypeOf(0.0)
				}
				fields = append(fields, reflect.StructField{
					Name: fmt.Sprintf("Param%d", j), Type: t,
					Tag: reflect.StructTag(fmt.Sprintf(`parquet:"%s"`, p.Path)),
				})
			}
		}
	}
	return reflect.StructOf(fields)
}

// runRow fills a value of runRowType(params).
func runRow(info results.RunInfo, params []sweep.Param) any {
	t := runRowType(params)
	v := reflect.New(t).Elem()
	iv := reflect.ValueOf(info)
	for i := 0; i < iv.NumField(); i++ {
		v.FieldByName(iv.Type().Field(i).Name).Set(iv.Field(i))
	}
	for j, p := range params {
		f := v.FieldByName(fmt.Sprintf("Param%d", j))
		if x, ok := integer(p.Value); ok {
			f.SetInt(x)
		} else if x, ok := number(p.Value); ok {
			f.SetFloat(x)
		} else {
			f.SetString(fmt.Sprint(p.Value))
		}
	}
	return v.Addr().Interface()
}

// integer returns an integer value (a YAML integer) as int64; a uint64 past int64's
// range is not one (it is written as a double).
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// writeRunRow writes the one-row runs/ file of a run.
func writeRunRow(path string, info results.RunInfo, params []sweep.Param, meta map[string]string) error {
	row := runRow(info, params)
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd), parquet.SchemaOf(row)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	w := parquet.NewWriter(f, opts...)
	if err := w.Write(row); err != nil {
		f.abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		f.abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.commit()
}

// runStatus is the subset of a runs/ row that resume needs.
type runStatus struct {
	RunID  string `parquet:"run_id"`
	Status string `parquet:"status"`
}

func readRunStatus(path string) (runStatus, error) {
	rows, err := parquet.ReadFile[runStatus](path)
	if err != nil {
		return runStatus{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(rows) != 1 {
		return runStatus{}, fmt.Errorf("read %s: expected one row, found %d", path, len(rows))
	}
	return rows[0], nil
}
