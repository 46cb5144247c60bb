package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// digitsCSVGz is the UCI optical-digits test set as shipped by scikit-learn
// (load_digits): one row per image, 64 pixels 0..16 then the label.
//
//go:embed digits.csv.gz
var digitsCSVGz []byte

const (
	digitsRows   = 1797
	digitsSide   = 8
	digitsMaxPix = 16
)

// loadDigits decodes the embedded digits set. Each call returns a fresh copy.
func loadDigits() (*Dataset, error) {
	gz, err := gzip.NewReader(bytes.NewReader(digitsCSVGz))
	if err != nil {
		return nil, fmt.Errorf("data: embedded digits.csv.gz: %w", err)
	}
	s, err := parseDigits(gz)
	if err != nil {
		return nil, fmt.Errorf("data: embedded digits.csv.gz: %w", err)
	}
	if s.N != digitsRows {
		return nil, fmt.Errorf("data: embedded digits.csv.gz: %d rows, want %d", s.N, digitsRows)
	}
	return &Dataset{Name: "digits", Train: s}, nil
}

// parseDigits reads CSV rows of 64 pixels (0..16) and a label (0..9).
func parseDigits(r io.Reader) (*Set, error) {
	const dim = digitsSide * digitsSide
	s := &Set{Dim: dim, Height: digitsSide, Width: digitsSide}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != dim+1 {
			return nil, fmt.Errorf("line %d: %d fields, want %d", line, len(fields), dim+1)
		}
		for j, f := range fields {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return nil, fmt.Errorf("line %d, field %d: %w", line, j+1, err)
			}
			if j < dim {
				if v < 0 || v > digitsMaxPix {
					return nil, fmt.Errorf("line %d: pixel %d is %d, want 0..%d", line, j, v, digitsMaxPix)
				}
				s.X = append(s.X, float32(v)/digitsMaxPix)
			} else {
				if v < 0 || v > 9 {
					return nil, fmt.Errorf("line %d: label %d, want 0..9", line, v)
				}
				s.Labels = append(s.Labels, int32(v))
			}
		}
		s.N++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}
