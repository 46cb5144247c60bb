package data

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/format"
)

// matrixExpected is testdata/matrix/expected.json, written by make_matrix.py from what
// pyarrow reads back.
type matrixExpected struct {
	Pyarrow string    `json:"pyarrow"`
	Rows    int       `json:"rows"`
	Dim     int       `json:"dim"`
	Values  []float64 `json:"values"`
	Files   map[string]struct {
		Kind        string `json:"kind"`
		NullRow     *int   `json:"null_row"`
		Element     string `json:"element"`
		Codec       string `json:"codec"`
		PageVersion string `json:"page_version"`
		Dictionary  bool   `json:"dictionary"`
		RowGroups   int    `json:"row_groups"`
	} `json:"files"`
}

// TestParquetMatrixReadsWhatPyarrowReadsOrRefusesByName reads every file of the reader
// matrix (each codec pyarrow writes x data page v1/v2 x dictionary on/off x required
// and nullable list<float32> and one with a null row, plus list<float16> and
// list<double>): a float32 or float16 file must give exactly pyarrow's values (the
// matrix's values are exact in float16), one with a null row a refusal naming the file
// and the row, a list<double> one a refusal naming the file, the column and its element
// type. Never zeros or garbage without an error (issue 23: lz4 + v2 +
// dictionary pages read as zeros under parquet-go v0.32.0).
func TestParquetMatrixReadsWhatPyarrowReadsOrRefusesByName(t *testing.T) {
	dir := filepath.Join("testdata", "matrix")
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want matrixExpected
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(onDisk) != len(want.Files) || len(want.Files) < 2*2*2*6 {
		t.Fatalf("%d parquet files on disk, %d in expected.json: rerun make_matrix.py", len(onDisk), len(want.Files))
	}
	names := make([]string, 0, len(want.Files))
	codecs, dict, versions := map[string]bool{}, map[bool]bool{}, map[string]bool{}
	for name, f := range want.Files {
		names = append(names, name)
		codecs[f.Codec], dict[f.Dictionary], versions[f.PageVersion] = true, true, true
	}
	if len(codecs) < 6 || len(dict) != 2 || len(versions) != 2 {
		t.Fatalf("the matrix covers codecs %v, dictionary %v, page versions %v: too few", codecs, dict, versions)
	}
	sort.Strings(names)
	for _, name := range names {
		f := want.Files[name]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			s, err := LoadParquet(path, ParquetOptions{})
			if f.Element != "float32" && f.Element != "float16" {
				if err == nil {
					t.Fatalf("a list<%s> column loaded (%d rows); want a refusal", f.Element, s.N)
				}
				for _, w := range []string{name, `"vec"`, "list<" + f.Element + ">", "allowed: list<float32> or list<float16>"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if !errors.Is(err, ErrBadFormat) && !strings.Contains(err.Error(), "allowed") {
					t.Errorf("error %q is neither ErrBadFormat nor a type refusal", err)
				}
				return
			}
			if f.NullRow != nil {
				if err == nil {
					t.Fatalf("a column with a null row loaded (%d rows)", s.N)
				}
				for _, w := range []string{name, fmt.Sprintf("row %d,", *f.NullRow), `column "vec"`, "null"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				// A refusal would be allowed by the issue, but pyarrow's own files must
				// load: every one of these does under the pinned parquet-go.
				t.Fatalf("%s (%s, page v%s, dictionary %v) refused: %v", name, f.Codec, f.PageVersion, f.Dictionary, err)
			}
			if s.N != want.Rows || s.Dim != want.Dim || len(s.X) != len(want.Values) {
				t.Fatalf("got %d×%d (%d values), pyarrow reads %d×%d", s.N, s.Dim, len(s.X), want.Rows, want.Dim)
			}
			for i, v := range want.Values {
				if float64(s.X[i]) != v {
					t.Fatalf("value %d (row %d, element %d) = %v, pyarrow reads %v", i, i/want.Dim, i%want.Dim, s.X[i], v)
				}
			}
		})
	}
}

// TestParquetPageThatDecodesToOtherNumbersThanTheFooterRecordsIsRefused damages one
// value inside an uncompressed plain page (the file's largest, 99.375, becomes 0), as
// a decoder bug or a bit flip would: the loader must refuse the file, naming it and the
// column, because the decoded values no longer span the footer's min and max.
func TestParquetPageThatDecodesToOtherNumbersThanTheFooterRecordsIsRefused(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "matrix", "required_none_v1_plain.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	// The page holds the last row's 99.25 then 99.375; its header and the footer hold
	// 99.375 alone, as statistics.
	var last [8]byte
	binary.LittleEndian.PutUint32(last[:], math.Float32bits(99.25))
	binary.LittleEndian.PutUint32(last[4:], math.Float32bits(99.375))
	if bytes.Count(raw, last[:]) != 1 {
		t.Fatalf("the last row's values found %d times in the file", bytes.Count(raw, last[:]))
	}
	copy(raw[bytes.Index(raw, last[:])+4:], []byte{0, 0, 0, 0})
	path := filepath.Join(t.TempDir(), "damaged.parquet")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadParquet(path, ParquetOptions{})
	if err == nil {
		t.Fatal("a page decoding to other numbers than the footer records loaded")
	}
	for _, w := range []string{"damaged.parquet", `column "vec"`, "[0, 99.25]", "recorded [-0, 99.375]", "UNCOMPRESSED"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if !errors.Is(err, ErrBadFormat) {
		t.Errorf("error %v is not ErrBadFormat", err)
	}
}

func TestCheckChunkMetaComparesCountsAndExactRange(t *testing.T) {
	f32 := func(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }
	f16 := func(h uint16) []byte { return binary.LittleEndian.AppendUint16(nil, h) } // 0xbc00 = -1, 0x4000 = 2
	meta := func(n int64, lo, hi []byte) *format.ColumnMetaData {
		return &format.ColumnMetaData{NumValues: n, Statistics: format.Statistics{MinValue: lo, MaxValue: hi}}
	}
	nan := float32(math.NaN())
	cases := []struct {
		name   string
		meta   *format.ColumnMetaData
		levels int64
		lo, hi float32
		want   string // "" = accepted
		f16    bool
	}{
		{"exact", meta(8, f32(-1), f32(2)), 8, -1, 2, "", false},
		{"no footer entry", nil, 8, 0, 0, "", false},
		{"no statistics", meta(8, nil, nil), 8, 0, 0, "", false},
		{"NaN statistics", meta(8, f32(nan), f32(nan)), 8, 0, 0, "", false},
		{"count differs", meta(9, f32(-1), f32(2)), 8, -1, 2, "decoded 8 values, the footer says 9", false},
		{"all zeros", meta(8, f32(-1), f32(2)), 8, 0, 0, "range over [0, 0], but the writer recorded [-1, 2]", false},
		{"max lost", meta(8, f32(-1), f32(2)), 8, -1, 1.5, "recorded [-1, 2]", false},
		{"float16 exact", meta(8, f16(0xbc00), f16(0x4000)), 8, -1, 2, "", true},
		{"float16 max lost", meta(8, f16(0xbc00), f16(0x4000)), 8, -1, 1.5, "recorded [-1, 2]", true},
		{"float32 statistics on a float16 column", meta(8, f32(-1), f32(2)), 8, 0, 0, "", true},
	}
	for _, c := range cases {
		err := checkChunkMeta(c.meta, c.f16, c.levels, c.lo, c.hi)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
