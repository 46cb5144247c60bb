package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// allocated runs f and returns the bytes it allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// forgeFooter copies a parquet file with its footer rewritten by edit.
func forgeFooter(t *testing.T, src string, edit func(md *format.FileMetaData)) string {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(raw[len(raw)-8:]))
	body, footer := raw[:len(raw)-8-n], raw[len(raw)-8-n:len(raw)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &md); err != nil {
		t.Fatal(err)
	}
	edit(&md)
	out, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	b := append(append([]byte{}, body...), out...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(out)))
	b = append(b, "PAR1"...)
	path := filepath.Join(t.TempDir(), "forged.parquet")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestParquetFooterClaimingMoreRowsThanTheFileHoldsIsRefusedBeforeAllocating forges
// the footer of a 1.5 kB file (100 rows of 4 values) to claim up to 2^28 rows (once:
// 17 GB asked for, a runtime crash). Each forgery is refused, naming the file and the
// footer, after allocating less than 2 MB.
func TestParquetFooterClaimingMoreRowsThanTheFileHoldsIsRefusedBeforeAllocating(t *testing.T) {
	src := filepath.Join("testdata", "matrix", "nullable_zstd_v2_dict.parquet")
	cases := []struct {
		name string
		edit func(md *format.FileMetaData)
		want string
	}{
		{"rows 2^28, values honest", func(md *format.FileMetaData) {
			md.NumRows, md.RowGroups[0].NumRows = 1<<28, 1<<28
		}, "holds 268435456 rows but its vector column 400 values"},
		{"rows and values 2^24", func(md *format.FileMetaData) {
			md.NumRows, md.RowGroups[0].NumRows = 1<<24, 1<<24
			md.RowGroups[0].Columns[0].MetaData.NumValues = 1 << 26
		}, "more than 1024 times its size"},
		{"rows and values 2^28", func(md *format.FileMetaData) {
			md.NumRows, md.RowGroups[0].NumRows = 1<<28, 1<<28
			md.RowGroups[0].Columns[0].MetaData.NumValues = 1 << 30
		}, "more than 1024 times its size"},
		{"file rows disagree with row groups", func(md *format.FileMetaData) {
			md.NumRows = 1 << 40
		}, "holds 1099511627776 rows but its row groups 100"},
		{"negative rows", func(md *format.FileMetaData) {
			md.NumRows, md.RowGroups[0].NumRows = -5, -5
		}, "-5"}, // refused by parquet-go itself or by checkFooterClaims
		{"values claimed but not present", func(md *format.FileMetaData) {
			md.RowGroups[0].Columns[0].MetaData.NumValues = 4000
		}, "the pages of a column chunk hold 400 values, the footer says 4000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := forgeFooter(t, src, c.edit)
			var err error
			if got := allocated(func() { _, err = LoadParquet(path, ParquetOptions{}) }); got > 2<<20 {
				t.Errorf("allocated %d MB before refusing", got>>20)
			}
			if err == nil {
				t.Fatal("a forged footer loaded")
			}
			if !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "forged.parquet") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want ErrBadFormat naming forged.parquet and saying %q", err, c.want)
			}
		})
	}
}

// TestNPYHeaderClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating forges .npy
// headers whose shapes need gigabytes in a file of a few hundred bytes.
func TestNPYHeaderClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating(t *testing.T) {
	for _, shape := range []string{"(268435456, 16)", "(1048576, 1048576)", "(9223372036854775807, 2)"} {
		hdr := "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
		hdr += strings.Repeat(" ", 63-(10+len(hdr))%64) + "\n"
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
		b = append(append(b, hdr...), make([]byte, 64)...)
		path := filepath.Join(t.TempDir(), "forged.npy")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		if got := allocated(func() { _, err = LoadNPY(path) }); got > 4<<20 {
			t.Errorf("shape %s: allocated %d MB before refusing", shape, got>>20)
		}
		if err == nil || !strings.Contains(err.Error(), "forged.npy") || !strings.Contains(err.Error(), "shape") {
			t.Errorf("shape %s: error %v, want one naming forged.npy and its shape", shape, err)
		}
	}
}

// TestIDXHeaderClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating forges IDX
// headers claiming 60000×28×28 images (47 M floats) in a file of 100 bytes, plain and
// gzipped (a gzip file can hold at most ~1032× its size).
func TestIDXHeaderClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating(t *testing.T) {
	raw := idxBytes([]int{60000, 28, 28}, make([]byte, 84))
	for _, c := range []struct {
		name string
		data []byte
	}{{"train-images-idx3-ubyte", raw}, {"train-images-idx3-ubyte.gz", gzipBytes(t, raw)}} {
		path := filepath.Join(t.TempDir(), c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		if got := allocated(func() { _, err = readFile(path, "", readImages) }); got > 4<<20 {
			t.Errorf("%s: allocated %d MB before refusing", c.name, got>>20)
		}
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), "more than the file can hold") {
			t.Errorf("%s: error %v, want ErrTruncated naming the file and the claim", c.name, err)
		}
	}
	// A real file of the claimed size still reads: the bound is what the file can
	// hold, not a fixed size.
	ok := idxBytes([]int{3, 2, 2}, bytes.Repeat([]byte{255}, 12))
	path := filepath.Join(t.TempDir(), "ok-idx3-ubyte")
	if err := os.WriteFile(path, ok, 0o644); err != nil {
		t.Fatal(err)
	}
	if im, err := readFile(path, md5Hex(ok), readImages); err != nil || im.n != 3 || im.x[11] != 1 {
		t.Errorf("a valid file: %v, %+v", err, im)
	}
}

// forgePageHeader copies a one-column, one-row-group parquet file whose chunk is one
// data page, with that page's header rewritten by edit (the page index dropped and
// the footer's offsets and sizes adjusted to the header's new length).
func forgePageHeader(t *testing.T, src string, edit func(h *format.PageHeader)) string {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(raw[len(raw)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), raw[len(raw)-8-n:len(raw)-8], &md); err != nil {
		t.Fatal(err)
	}
	cc := &md.RowGroups[0].Columns[0]
	cm := &cc.MetaData
	if len(md.RowGroups) != 1 || len(md.RowGroups[0].Columns) != 1 || cm.DictionaryPageOffset != 0 {
		t.Fatalf("%s: not one column of plain pages in one row group", src)
	}
	off, end := cm.DataPageOffset, cm.DataPageOffset+cm.TotalCompressedSize
	h, hlen, err := readPageHeader(bytes.NewReader(raw), off, end, make([]byte, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if off+int64(hlen)+int64(h.CompressedPageSize) != end {
		t.Fatalf("%s: the chunk holds more than one page", src)
	}
	edit(&h)
	hdr, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	b := append(append(append([]byte{}, raw[:off]...), hdr...), raw[off+int64(hlen):end]...)
	delta := int64(len(hdr) - hlen)
	cm.TotalCompressedSize += delta
	cm.TotalUncompressedSize += delta
	md.RowGroups[0].TotalByteSize += delta
	cc.OffsetIndexOffset, cc.OffsetIndexLength, cc.ColumnIndexOffset, cc.ColumnIndexLength = 0, 0, 0, 0
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
	b = append(b, "PAR1"...)
	path := filepath.Join(t.TempDir(), "forged-page.parquet")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestParquetPageHeaderClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating forges
// the one data page header of a 1.7 kB file to claim 2 GB uncompressed or 2^31 values
// (parquet-go sizes its buffers by these): each is refused, naming the file, after
// allocating less than 2 MB. The unforged copy still loads.
func TestParquetPageHeaderClaimingMoreThanTheFileHoldsIsRefusedBeforeAllocating(t *testing.T) {
	src := filepath.Join("testdata", "matrix", "required_none_v1_plain.parquet")
	cases := []struct {
		name string
		edit func(h *format.PageHeader)
		want string
	}{
		{"unchanged", func(h *format.PageHeader) {}, ""},
		{"2 GB uncompressed", func(h *format.PageHeader) { h.UncompressedPageSize = 1<<31 - 1 }, "claims 2147483647 bytes uncompressed"},
		{"negative size", func(h *format.PageHeader) { h.UncompressedPageSize = -1 }, "-1"},
		{"2^31 values", func(h *format.PageHeader) {
			v, _ := h.DataPageHeader.Get()
			v.NumValues = 1<<31 - 1
			h.DataPageHeader.Set(v)
		}, "claims 2147483647 values, more than the 400"},
		{"past the chunk", func(h *format.PageHeader) { h.CompressedPageSize += 100 }, "past its column chunk's end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := forgePageHeader(t, src, c.edit)
			var s *Set
			var err error
			if got := allocated(func() { s, err = LoadParquet(path, ParquetOptions{}) }); got > 2<<20 {
				t.Errorf("allocated %d MB", got>>20)
			}
			if c.want == "" {
				if err != nil || s.N != 100 || s.Dim != 4 || s.X[399] != 99.375 {
					t.Fatalf("the unforged rewrite: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("a forged page header loaded")
			}
			if !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "forged-page.parquet") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want ErrBadFormat naming forged-page.parquet and saying %q", err, c.want)
			}
		})
	}
}
