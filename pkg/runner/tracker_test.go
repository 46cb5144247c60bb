package runner

import (
	"context"
	"sync"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

type recordingTracker struct {
	mu     sync.Mutex
	epochs map[string][]int
	ends   map[string]string
}

func (r *recordingTracker) Epoch(run sweep.Run, e *results.Epoch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epochs[run.ID] = append(r.epochs[run.ID], e.Epoch)
}

func (r *recordingTracker) End(run sweep.Run, o results.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ends[run.ID] += o.Status
}

// TestTrackerIsToldEveryEpochAndEveryEnd: the tracker hook sees each run's epochs in
// order and its end once, after they are written, and a --resume of the finished
// sweep tells it nothing.
func TestTrackerIsToldEveryEpochAndEveryEnd(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	tr := &recordingTracker{epochs: map[string][]int{}, ends: map[string]string{}}
	o := opts(out)
	o.GroupSize = 2
	o.Tracker = tr
	sum, err := RunFile(context.Background(), path, o)
	if err != nil || sum.Completed != 4 {
		t.Fatalf("%+v %v", sum, err)
	}
	if len(tr.ends) != 4 || len(tr.epochs) != 4 {
		t.Fatalf("ends %v epochs %v", tr.ends, tr.epochs)
	}
	statuses, _ := results.ReadStatuses(sum.Dir)
	for id, st := range tr.ends {
		if st != results.StatusCompleted || statuses[id] != st {
			t.Errorf("run %s: tracker told %q, table %q", id, st, statuses[id])
		}
		if e := tr.epochs[id]; len(e) != 2 || e[0] != 1 || e[1] != 2 {
			t.Errorf("run %s: epochs %v", id, e)
		}
	}
	tr2 := &recordingTracker{epochs: map[string][]int{}, ends: map[string]string{}}
	o.Resume, o.Tracker = true, tr2
	if _, err := RunFile(context.Background(), path, o); err != nil {
		t.Fatal(err)
	}
	if len(tr2.ends)+len(tr2.epochs) != 0 {
		t.Errorf("resume of a finished sweep told the tracker %v %v", tr2.ends, tr2.epochs)
	}
}
