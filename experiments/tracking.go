package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sparselab/saerun/pkg/runner"
	"github.com/sparselab/saerun/pkg/tracking"
)

// How long the end of a sweep waits for MLflow: for the queued live calls, then for
// the catch-up from the tables. A server that takes longer is caught up on --resume.
const (
	trackingFlushWait   = 30 * time.Second
	trackingCatchUpWait = 2 * time.Minute
	trackingQueue       = 10000
)

// trackingURI is the MLflow server the flag, else $MLFLOW_TRACKING_URI, names ("":
// no tracking).
func trackingURI(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	return getenv("MLFLOW_TRACKING_URI")
}

// startTracking sets opts.Tracker to a live MLflow tracker when uri names a server;
// a URI that is not an http(s) address is a usage error.
func startTracking(uri string, opts *runner.Options, log io.Writer) (*tracking.Tracker, error) {
	if uri == "" || opts.DryRun {
		return nil, nil
	}
	t, err := tracking.New(uri, log, trackingQueue)
	if err != nil {
		return nil, fmt.Errorf("--tracking-uri / MLFLOW_TRACKING_URI: %w", err)
	}
	opts.Tracker = t
	return t, nil
}

// finishTracking sends what is queued (bounded), then logs from the sweep folder's
// tables the runs of this shard that the server is missing, and says what it did. An
// interrupted sweep skips the catch-up (its --resume does it).
func finishTracking(t *tracking.Tracker, dir string, opts runner.Options, interrupted bool, log io.Writer) {
	if t == nil {
		return
	}
	live := t.Close(trackingFlushWait)
	if dir == "" {
		return
	}
	if interrupted {
		fmt.Fprintf(log, "mlflow %s: %d runs logged live; the rest are caught up from the tables on --resume\n", t.C.Base, live)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), trackingCatchUpWait)
	defer cancel()
	res, err := t.CatchUp(ctx, dir, opts.Shard, opts.Shards)
	if err != nil {
		fmt.Fprintf(log, "warning: MLflow %s: catching up from %s: %v (%d runs logged live, %d from the tables); run again with --resume to catch up the rest\n",
			t.C.Base, dir, err, live, res.Logged)
		return
	}
	fmt.Fprintf(log, "mlflow %s: %d runs logged live, %d caught up from the tables, %d already there\n", t.C.Base, live, res.Logged, res.Present-live)
}
