package spec_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// expectation is what a corpus file's leading comments promise about its error.
type expectation struct {
	line  int      // # want-line: N (0: the error has no line)
	wants []string // # want: substring, one per comment
}

// readExpectation parses the leading comment lines of a corpus file.
func readExpectation(t *testing.T, data []byte) expectation {
	t.Helper()
	var exp expectation
	haveLine := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		text := sc.Text()
		if !strings.HasPrefix(text, "#") {
			break
		}
		text = strings.TrimSpace(strings.TrimPrefix(text, "#"))
		if v, ok := strings.CutPrefix(text, "want-line:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("bad want-line comment %q", text)
			}
			exp.line, haveLine = n, true
		} else if v, ok := strings.CutPrefix(text, "want:"); ok {
			exp.wants = append(exp.wants, strings.TrimSpace(v))
		}
	}
	if !haveLine || len(exp.wants) == 0 {
		t.Fatalf("corpus file lacks '# want-line:' and '# want:' comments")
	}
	return exp
}

// loadAndExpand does what the runner does before writing anything.
func loadAndExpand(path string, sets ...string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s, src, err := spec.ParseWithSets(path, data, sets)
	if err != nil {
		return err
	}
	_, err = sweep.Expand(s, src)
	return err
}

// Every broken spec of testdata/bad must be rejected with spec.Errors that name the
// file, point at the defect's line and say what is wrong and what is allowed.
func TestBadSpecCorpus(t *testing.T) { testBadSpecCorpus(t) }

// With a --set that changes nothing the corpus refuses (train.seed), every error
// still points at the line of the user's file, not of the document re-written with
// the override.
func TestBadSpecCorpusErrorsPointIntoTheFileWithASet(t *testing.T) {
	testBadSpecCorpus(t, "train.seed=3")
}

func testBadSpecCorpus(t *testing.T, sets ...string) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 35 {
		t.Fatalf("only %d corpus files in testdata/bad", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			exp := readExpectation(t, data)
			err = func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				return loadAndExpand(path, sets...)
			}()
			if err == nil {
				t.Fatalf("spec loaded and expanded without error")
			}
			msg := err.Error()
			t.Logf("%s", msg)
			var es spec.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is %T, not spec.Errors: %v", err, err)
			}
			if !strings.Contains(msg, path) {
				t.Errorf("error does not name the file %s: %s", path, msg)
			}
			if es[0].Line != exp.line {
				t.Errorf("first error at line %d, want %d: %s", es[0].Line, exp.line, msg)
			}
			for _, w := range exp.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
		})
	}
	t.Logf("tried %d broken specs", len(files))
}
