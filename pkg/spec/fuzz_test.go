package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// maxFuzzRuns bounds the sweeps the fuzzer expands: a spec is cheap to write and its
// grid can be astronomically large.
const maxFuzzRuns = 1000

// FuzzParse feeds arbitrary bytes to spec.Parse and, when they parse, to sweep.Expand:
// neither may panic, and every error must say something.
func FuzzParse(f *testing.F) {
	seeds := []string{"../../experiments/quickstart.yaml"}
	bad, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(seeds, bad...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, src, err := spec.Parse("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse returned an empty error for %q", data)
			}
			return
		}
		if s == nil || src == nil {
			t.Fatalf("Parse returned no error but spec %v, source %v", s, src)
		}
		if expansionSize(s) > maxFuzzRuns {
			return
		}
		runs, err := sweep.Expand(s, src)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Expand returned an empty error for %q", data)
			}
			return
		}
		if len(runs) == 0 {
			t.Fatalf("Expand returned no runs and no error for %q", data)
		}
	})
}

// expansionSize is the number of runs Expand would produce (saturating above
// maxFuzzRuns), computed from the sweep section alone.
func expansionSize(s *spec.Spec) int {
	sw := s.Sweep
	if sw == nil {
		return 1
	}
	n := 1
	if len(sw.Parameters) > 0 {
		switch sw.Method {
		case "random":
			n = sw.Count
		default:
			for _, p := range sw.Parameters {
				n *= max(len(p.Values), 1)
				if n > maxFuzzRuns {
					return maxFuzzRuns + 1
				}
			}
		}
	}
	n *= max(len(sw.Seeds), 1)
	if n > maxFuzzRuns || n < 0 {
		return maxFuzzRuns + 1
	}
	return n
}
