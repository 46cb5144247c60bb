package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/data/npytest"
	"github.com/sparselab/saerun/pkg/results"
)

// writeNPY writes a rows×dim <f4 .npy file of x[i, j] = (i - j) / 10 (negative values).
func writeNPY(t *testing.T, path string, rows, dim int) {
	t.Helper()
	npytest.Write(t, path, npytest.Of(rows, dim, func(i, j int) float32 { return float32(i-j) / 10 }), rows, dim)
}

const vectorSpec = `name: vec
dataset: %s
model:
  encoder: [{units: 6, activation: relu}]
  decoder: [{activation: linear}]
loss: %s
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 1, batch_size: 16}
record: {activations: {samples: 3}, reconstructions: {samples: 2}}
`

// A vector set (npy, synthetic) trains end to end, and its recorded rows carry the
// label -1 (no label), as generated images do, never 0.
func TestVectorSetsTrainAndRecordNoLabelAsMinusOne(t *testing.T) {
	dir := t.TempDir()
	npy := filepath.Join(dir, "x.npy")
	writeNPY(t, npy, 60, 5)
	for name, ds := range map[string]string{
		"npy":       fmt.Sprintf("{name: npy, path: %s}", npy),
		"synthetic": "{name: synthetic, synthetic: {dim: 5, features: 8, samples: 60, active: 2, seed: 3}}",
	} {
		out := t.TempDir()
		sum, err := RunFile(context.Background(), writeSpec(t, fmt.Sprintf(vectorSpec, ds, "mse")), opts(out))
		if err != nil || sum.Completed != 1 {
			t.Fatalf("%s: %+v %v", name, sum, err)
		}
		for _, table := range []string{results.ActivationsTable, results.ImagesTable} {
			files, _ := filepath.Glob(filepath.Join(out, "vec", table, "*.parquet"))
			if len(files) == 0 {
				t.Fatalf("%s: no %s table", name, table)
			}
			type row struct {
				Label int32 `parquet:"label"`
			}
			rows, err := parquet.ReadFile[row](files[0])
			if err != nil || len(rows) == 0 {
				t.Fatalf("%s: %s: %v rows, %v", name, table, len(rows), err)
			}
			for _, r := range rows {
				if r.Label != -1 {
					t.Fatalf("%s: %s has label %d, want -1 (no label)", name, table, r.Label)
				}
			}
		}
	}
}

// bce on data outside [0, 1] is refused before anything is written, naming the file,
// the value and the alternative.
func TestBCEOnAVectorSetOutsideTheUnitIntervalIsRefusedBeforeWriting(t *testing.T) {
	npy := filepath.Join(t.TempDir(), "x.npy")
	writeNPY(t, npy, 40, 3)
	out := t.TempDir()
	text := strings.Replace(fmt.Sprintf(vectorSpec, fmt.Sprintf("{name: npy, path: %s}", npy), "bce"), "activation: linear", "activation: sigmoid", 1)
	_, err := RunFile(context.Background(), writeSpec(t, text), opts(out))
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want a UsageError", err)
	}
	for _, w := range []string{"loss bce", "[0, 1]", npy, "mse"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if n := countFiles(t, out); n != 0 {
		t.Errorf("%d files written", n)
	}
}

// A missing vector file is an error naming the resolved path, before anything is written.
func TestMissingVectorFileNamesTheResolvedPath(t *testing.T) {
	out := t.TempDir()
	_, err := RunFile(context.Background(), writeSpec(t, fmt.Sprintf(vectorSpec, "{name: parquet, path: no/such.parquet}", "mse")), opts(out))
	wd, _ := os.Getwd()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(wd, "no", "such.parquet")) {
		t.Errorf("err = %v, want one naming %s", err, filepath.Join(wd, "no", "such.parquet"))
	}
	if n := countFiles(t, out); n != 0 {
		t.Errorf("%d files written", n)
	}
}
