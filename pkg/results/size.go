package results

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// TableSize is what one table takes on disk.
type TableSize struct {
	Table string
	Files int
	Bytes int64
}

// Sizes returns each table's Parquet files and bytes (temporary files excluded), in
// the order of Tables.
func (s *Sweep) Sizes() ([]TableSize, error) {
	var out []TableSize
	for _, table := range Tables {
		entries, err := os.ReadDir(tableDir(s.Dir, table))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		ts := TableSize{Table: table}
		for _, e := range entries {
			if e.IsDir() || !IsParquetFile(e.Name()) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return nil, fmt.Errorf("results: %w", err)
			}
			ts.Files++
			ts.Bytes += info.Size()
		}
		out = append(out, ts)
	}
	return out, nil
}

// HumanBytes writes a byte count in B, kB, MB or GB (powers of 1000).
func HumanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
