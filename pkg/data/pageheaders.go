package data

import (
	"bytes"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// checkPageHeaders walks the page headers of one column chunk, without reading the
// pages, and refuses what disagrees with the footer (already bounded by
// checkFooterClaims) before parquet-go sizes a buffer by it: parquet-go allocates
// uncompressed_page_size bytes per page and num_values levels, both taken from page
// headers, so one forged header in a small file could otherwise ask for gigabytes.
//
// Each page must lie inside its chunk and decompress to at most limit bytes, and the
// pages' value counts must add up to the footer's, itself at most maxValues (the
// vector column's bounded count, or a scalar column's row count).
func checkPageHeaders(f io.ReaderAt, cm *format.ColumnMetaData, size, limit, maxValues int64) error {
	if cm.NumValues < 0 || cm.NumValues > maxValues {
		return fmt.Errorf("the footer gives a column chunk %d values, at most %d expected", cm.NumValues, maxValues)
	}
	start := cm.DataPageOffset
	if cm.DictionaryPageOffset > 0 && cm.DictionaryPageOffset < start {
		start = cm.DictionaryPageOffset
	}
	end := start + cm.TotalCompressedSize
	if start < 4 || cm.TotalCompressedSize < 0 || end > size {
		return fmt.Errorf("the footer places a column chunk at bytes %d to %d of a %d-byte file", start, end, size)
	}
	var values int64
	buf := make([]byte, 4<<10)
	for off := start; off < end; {
		h, hlen, err := readPageHeader(f, off, end, buf)
		if err != nil {
			return fmt.Errorf("the page header at byte %d: %v", off, err)
		}
		if h.CompressedPageSize < 0 || off+int64(hlen)+int64(h.CompressedPageSize) > end {
			return fmt.Errorf("the page at byte %d claims %d bytes, past its column chunk's end at byte %d", off, h.CompressedPageSize, end)
		}
		if h.UncompressedPageSize < 0 || int64(h.UncompressedPageSize) > limit {
			return fmt.Errorf("the page at byte %d claims %d bytes uncompressed, more than %d times the file's size", off, h.UncompressedPageSize, maxParquetExpansion)
		}
		n := int64(-1)
		if v, ok := h.DataPageHeader.Get(); ok {
			n = int64(v.NumValues)
		} else if v, ok := h.DataPageHeaderV2.Get(); ok {
			n = int64(v.NumValues)
			if n == 0 {
				// pyarrow writes such pages (a tiny data_page_size with a small
				// write_batch_size); the pinned parquet-go (v0.32.1) dereferences nil
				// decoding one with levels (any list or nullable column) and crashes the
				// process.
				return fmt.Errorf("the data page (v2) at byte %d holds no values, which this reader (parquet-go v0.32.1) cannot decode; rewrite the file with data page v1 (pyarrow: data_page_version=\"1.0\") or larger pages", off)
			}
		} else if v, ok := h.DictionaryPageHeader.Get(); ok {
			// Every dictionary value takes at least a byte (4 for numbers and strings).
			if v.NumValues < 0 || v.NumValues > h.UncompressedPageSize {
				return fmt.Errorf("the dictionary page at byte %d claims %d values in %d bytes", off, v.NumValues, h.UncompressedPageSize)
			}
		}
		if n < -1 || (n >= 0 && values+n > cm.NumValues) {
			return fmt.Errorf("the page at byte %d claims %d values, more than the %d the footer gives its column chunk", off, n, cm.NumValues)
		}
		if n > 0 {
			values += n
		}
		off += int64(hlen) + int64(h.CompressedPageSize)
	}
	if values != cm.NumValues {
		return fmt.Errorf("the pages of a column chunk hold %d values, the footer says %d", values, cm.NumValues)
	}
	return nil
}

// readPageHeader decodes the page header at off (before end), returning it and its
// length in bytes. A header larger than buf (long statistics) is read again with a
// larger buffer, up to 1 MB.
func readPageHeader(f io.ReaderAt, off, end int64, buf []byte) (format.PageHeader, int, error) {
	for {
		b := buf[:min(int64(len(buf)), end-off)]
		n, err := f.ReadAt(b, off)
		if n < len(b) && err != nil {
			return format.PageHeader{}, 0, err
		}
		var h format.PageHeader
		r := bytes.NewReader(b)
		err = thrift.NewDecoder(new(thrift.CompactProtocol).NewReader(r)).Decode(&h)
		if err == nil {
			return h, len(b) - r.Len(), nil
		}
		if int64(len(b)) == end-off || len(buf) >= 1<<20 {
			return format.PageHeader{}, 0, err
		}
		buf = make([]byte, 4*len(buf))
	}
}
