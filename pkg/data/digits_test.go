package data

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbeddedDigitsMatchesShared checks the embedded copy against the
// SHA256SUMS of the shared datasets directory.
func TestEmbeddedDigitsMatchesShared(t *testing.T) {
	sums := filepath.Join(sharedDir(t), "SHA256SUMS")
	f, err := os.Open(sums)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := sha256.Sum256(digitsCSVGz)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if ok && file == "digits/digits.csv.gz" {
			if hex.EncodeToString(got[:]) != sum {
				t.Fatalf("embedded digits.csv.gz has SHA256 %x, %s lists %s", got, sums, sum)
			}
			return
		}
	}
	t.Fatalf("%s has no line for digits/digits.csv.gz", sums)
}

func TestLoadDigits(t *testing.T) {
	ds, err := Load("digits", "/nonexistent") // digits ignores dir
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Train
	if ds.Name != "digits" || ds.Test != nil {
		t.Errorf("Name=%q Test=%v, want digits and no test set", ds.Name, ds.Test)
	}
	if s.N != 1797 || s.Dim != 64 || s.Height != 8 || s.Width != 8 || len(s.X) != 1797*64 || len(s.Labels) != 1797 {
		t.Fatalf("shape N=%d Dim=%d %dx%d len(X)=%d, want 1797x64 (8x8)", s.N, s.Dim, s.Height, s.Width, len(s.X))
	}
	lo, hi := minMax(s.X)
	if lo != 0 || hi != 1 {
		t.Errorf("pixel range [%v, %v], want [0, 1]", lo, hi)
	}
	// First row of the file: 0,0,5,13,9,1,0,0,... label 0.
	if r := s.Row(0); r[2] != 5.0/16 || r[3] != 13.0/16 || s.Labels[0] != 0 {
		t.Errorf("row 0 starts %v label %d, want [0 0 0.3125 0.8125 ...] label 0", r[:4], s.Labels[0])
	}
	var counts [10]int
	for _, l := range s.Labels {
		counts[l]++
	}
	for d, c := range counts {
		if c < 170 || c > 190 {
			t.Errorf("digit %d occurs %d times, want about 180", d, c)
		}
	}
}

func TestParseDigitsErrors(t *testing.T) {
	row := strings.Repeat("1,", 64)
	tests := []struct{ name, in string }{
		{"too few fields", "1,2,3\n"},
		{"not a number", strings.Repeat("x,", 64) + "1\n"},
		{"pixel above 16", "17," + strings.Repeat("1,", 63) + "1\n"},
		{"negative pixel", "-1," + strings.Repeat("1,", 63) + "1\n"},
		{"label above 9", row + "10\n"},
	}
	for _, tt := range tests {
		if _, err := parseDigits(strings.NewReader(tt.in)); err == nil {
			t.Errorf("%s: parseDigits succeeded, want an error", tt.name)
		}
	}
	s, err := parseDigits(strings.NewReader(row + "3\n\n" + row + "4\n"))
	if err != nil || s.N != 2 || s.Labels[1] != 4 || s.X[0] != 1.0/16 {
		t.Errorf("two good rows: got %+v, %v", s, err)
	}
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}
