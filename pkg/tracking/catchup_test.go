package tracking

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/spec"
)

// writeSweep records runs a (completed, 2 epochs), b (diverged) and c (interrupted)
// in a sweep folder, as the runner does.
func writeSweep(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	sw, err := writer.OpenSweep(out, "sweep-a", []byte("name: sweep-a\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		id, status string
		epochs     int
	}{{"aaaaaaaaaaaa", results.StatusCompleted, 2}, {"bbbbbbbbbbbb", results.StatusDiverged, 1}, {"cccccccccccc", results.StatusInterrupted, 1}} {
		r := testRun(c.id, i)
		r.Spec = &spec.Spec{Name: "sweep-a"}
		w, err := sw.StartRun(r)
		if err != nil {
			t.Fatal(err)
		}
		for e := 1; e <= c.epochs; e++ {
			if err := w.Epoch(epoch(e, float64(10*i+e))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Finish(results.Outcome{Status: c.status, Epochs: c.epochs}, writer.Backend{Name: "go"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	return out + "/sweep-a"
}

func TestCatchUpLogsMissingRunsFromTablesOnceAndReplacesPartialLogs(t *testing.T) {
	dir := writeSweep(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	var log bytes.Buffer

	// A live log of a that broke off after its first epoch (no final status, no tag).
	tr := NewWithClient(fastClient(srv.URL), &log, 100)
	tr.Epoch(testRun("aaaaaaaaaaaa", 0), epoch(1, 1))
	tr.Close(5 * time.Second)

	tr = NewWithClient(fastClient(srv.URL), &log, 100)
	tr.Close(time.Second)
	res, err := tr.CatchUp(t.Context(), dir, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Logged != 3 || res.Replaced != 1 || res.Present != 0 {
		t.Fatalf("first catch-up: %+v", res)
	}
	runs := f.byName()
	if len(runs) != 3 {
		t.Fatalf("%d MLflow runs, want 3 (the partial one deleted)", len(runs))
	}
	for name, st := range map[string]string{"aaaaaaaaaaaa": "FINISHED", "bbbbbbbbbbbb": "FAILED", "cccccccccccc": "KILLED"} {
		if r := runs[name]; r == nil || r.Info.Status != st || r.Tag(TagLogged) != "complete" || !strings.Contains(r.Tag(TagConfig), "sweep-a") {
			t.Errorf("%s: %+v", name, r)
		}
	}
	h := f.history[runs["aaaaaaaaaaaa"].Info.ID+"\x00train/loss"]
	if len(h) != 2 || h[0].Step != 1 || h[1].Step != 2 || h[1].Value != 2 {
		t.Errorf("a's train/loss from the tables: %+v", h)
	}

	// Again: nothing is logged twice.
	res, err = tr.CatchUp(t.Context(), dir, 0, 1)
	if err != nil || res.Logged != 0 || res.Present != 3 || len(f.byName()) != 3 {
		t.Fatalf("second catch-up: %+v, %v, %d runs", res, err, len(f.byName()))
	}
}

func TestCatchUpTakesOnlyItsShardsRuns(t *testing.T) {
	dir := writeSweep(t)
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	tr := NewWithClient(fastClient(srv.URL), &bytes.Buffer{}, 10)
	tr.Close(time.Second)
	res, err := tr.CatchUp(t.Context(), dir, 1, 2) // run indexes 0, 1, 2: shard 1 of 2 has index 1
	if err != nil || res.Logged != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, ok := f.byName()["bbbbbbbbbbbb"]; !ok || len(f.byName()) != 1 {
		t.Errorf("shard 1/2 logged %v", f.byName())
	}
}

func TestCatchUpWithTheServerDownReturnsAnError(t *testing.T) {
	dir := writeSweep(t)
	srv := httptest.NewServer(newFake())
	url := srv.URL
	srv.Close()
	tr := NewWithClient(fastClient(url), &bytes.Buffer{}, 10)
	tr.Close(time.Second)
	if _, err := tr.CatchUp(t.Context(), dir, 0, 1); err == nil {
		t.Fatal("no error with the server down")
	}
}
