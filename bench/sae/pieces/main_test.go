package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestRunTimesEveryPieceOnTheGoBackend(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, sizes{backend: "go", runs: 1, B: 8, D: 6, L: 16, k: 3, auxK: 4}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 16 || !strings.HasPrefix(lines[0], "piece\t") {
		t.Fatalf("want a header and 15 pieces, got:\n%s", out.String())
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Errorf("line %q: want name<TAB>min ms<TAB>median ms<TAB>min CPU ms<TAB>median CPU ms", l)
			continue
		}
		lo, err1 := strconv.ParseFloat(f[1], 64)
		mid, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || !(lo >= 0 && mid >= lo) {
			t.Errorf("line %q: want 0 <= min <= median", l)
		}
	}
}
