package writer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

func TestRunRowHasAColumnPerSweptParameterAndMetadata(t *testing.T) {
	dir := t.TempDir()
	sw, err := OpenSweep(dir, "s", []byte("name: s\n"))
	if err != nil {
		t.Fatal(err)
	}
	run := sweep.Run{Index: 3, ID: "abc123", Seed: 7, Config: []byte(`{"name":"s"}`),
		Params: []sweep.Param{{Path: "regularizers.0.weight", Value: uint64(3)}, {Path: "model.encoder.0.activation", Value: "relu"}}}
	w, err := sw.StartRun(run)
	if err != nil {
		t.Fatal(err)
	}
	e := &results.Epoch{Epoch: 1, Metrics: []results.Metric{{Split: "validation", Name: "loss", Value: 0.5}},
		Activations: []results.Activations{{Layer: "encoder.0", Index: []int{4}, Labels: []int{2}, Vectors: [][]float32{{0.1, 0.2}}}}}
	if err := w.Epoch(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(results.Outcome{Status: results.StatusCompleted, Epochs: 1, Final: e.Metrics}, Backend{Name: "go"}, 1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "s", "runs", "abc123.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string]bool{}
	for _, c := range pf.Schema().Columns() {
		cols[c[0]] = true
	}
	for _, want := range []string{"run_id", "regularizers.0.weight", "model.encoder.0.activation", "status", "final_validation_loss", "config"} {
		if !cols[want] {
			t.Errorf("runs table lacks column %q (has %v)", want, cols)
		}
	}
	for _, key := range []string{"run_id", "spec_sha256", "tool_version"} {
		if v, ok := pf.Lookup(key); !ok || v == "" {
			t.Errorf("key-value metadata %q missing", key)
		}
	}
	st2, err := sw.Status("abc123")
	if err != nil || st2 != "completed" {
		t.Errorf("status %q %v", st2, err)
	}
	acts, err := parquet.ReadFile[results.ActivationRow](filepath.Join(dir, "s", "activations", "abc123.parquet"))
	if err != nil || len(acts) != 1 || acts[0].ValidationIndex != 4 || len(acts[0].Activation) != 2 {
		t.Errorf("activations %+v %v", acts, err)
	}
}

func TestAbortLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	sw, _ := OpenSweep(dir, "s", []byte("name: s\n"))
	w, err := sw.StartRun(sweep.Run{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	var files []string
	filepath.Walk(filepath.Join(dir, "s"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name() != "spec.yaml" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files left after abort: %v", files)
	}
}

func TestOpenSweepRefusesADifferentSpec(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenSweep(dir, "s", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSweep(dir, "s", []byte("a")); err != nil {
		t.Errorf("same spec refused: %v", err)
	}
	if _, err := OpenSweep(dir, "s", []byte("b")); err == nil {
		t.Error("different spec accepted")
	}
	if _, err := OpenSweep(dir, "t", []byte("name: t\ntrain: {epochs: 2}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSweep(dir, "t", []byte("# a comment\nname: t\ntrain:\n  epochs: 2\n")); err != nil {
		t.Errorf("a spec differing only in comments and layout refused: %v", err)
	}
	if _, err := OpenSweep(dir, "t", []byte("name: t\ntrain: {epochs: 3}\n")); err == nil {
		t.Error("a changed value accepted")
	}
}
