package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

// A plan expands, checks and groups without writing; executing it trains exactly its
// groups; a plan of a folder that holds the runs needs --resume, and with it plans
// nothing to train.
func TestPlanChecksAndGroupsWithoutWritingAndExecuteRunsIt(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	o := opts(out)
	o.GroupSize = 2
	p, err := PlanFile(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("planning wrote %d entries to %s", len(entries), out)
	}
	if len(p.Runs) != 4 || len(p.Pending) != 4 || len(p.Groups) != 2 || len(p.Groups[0]) != 2 || p.Skipped != 0 {
		t.Fatalf("plan: %d runs, %d pending, groups %d, skipped %d", len(p.Runs), len(p.Pending), len(p.Groups), p.Skipped)
	}
	if p.Dir != filepath.Join(out, "small") || p.Info.Name != "go" {
		t.Errorf("plan dir %s, backend %s", p.Dir, p.Info.Name)
	}
	sum, err := p.Execute(context.Background())
	if err != nil || sum.Completed != 4 {
		t.Fatalf("execute: %+v %v", sum, err)
	}
	if st, _ := results.ReadStatuses(p.Dir); len(st) != 4 {
		t.Errorf("%d runs recorded, want 4", len(st))
	}

	var usage *UsageError
	if _, err := PlanFile(path, o); !errors.As(err, &usage) || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("planning a recorded sweep without --resume: %v, want a usage error naming --resume", err)
	}
	o.Resume = true
	p, err = PlanFile(path, o)
	if err != nil || p.Skipped != 4 || len(p.Pending) != 0 || len(p.Groups) != 0 {
		t.Fatalf("resume plan: %+v %v", p, err)
	}
	changed := writeSpec(t, strings.Replace(sweepSpec, "epochs: 2", "epochs: 3", 1))
	if _, err := PlanFile(changed, o); !errors.As(err, &usage) {
		t.Errorf("planning another spec into the folder: %v, want a usage error", err)
	}
	o.DryRun = true
	if p, err = PlanFile(path, o); err != nil || p.Groups != nil {
		t.Fatalf("dry-run plan: %v", err)
	}
	if _, err := p.Execute(context.Background()); !errors.As(err, &usage) {
		t.Errorf("executing a dry-run plan: %v, want a usage error", err)
	}
}

// Execute reads the folder again under its lock: runs recorded after planning (here
// by a second plan executed first) are skipped, not trained twice.
func TestExecuteSkipsRunsRecordedSincePlanning(t *testing.T) {
	out := t.TempDir()
	path := writeSpec(t, sweepSpec)
	o := opts(out)
	o.Resume = true
	first, err := PlanFile(path, o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := PlanFile(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := second.Execute(context.Background()); err != nil || sum.Completed != 4 {
		t.Fatalf("second: %+v %v", sum, err)
	}
	sum, err := first.Execute(context.Background())
	if err != nil || sum.Completed != 0 || sum.Skipped != 4 {
		t.Errorf("first, executed after the second: %+v %v; want 4 skipped, none trained", sum, err)
	}
}
