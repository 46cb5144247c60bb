package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/runner"
)

func TestTrackingURIFlagOverridesTheEnvironment(t *testing.T) {
	env := func(k string) string {
		if k == "MLFLOW_TRACKING_URI" {
			return "http://env:5000"
		}
		return ""
	}
	if got := trackingURI("http://flag:5000", env); got != "http://flag:5000" {
		t.Errorf("flag and env: %q", got)
	}
	if got := trackingURI("", env); got != "http://env:5000" {
		t.Errorf("env only: %q", got)
	}
	if got := trackingURI("", func(string) string { return "" }); got != "" {
		t.Errorf("neither: %q", got)
	}
}

func TestTrackingURIThatIsNotHTTPIsAUsageError(t *testing.T) {
	var opts runner.Options
	tr, err := startTracking("file:///tmp/mlruns", &opts, &bytes.Buffer{})
	if err == nil || tr != nil || opts.Tracker != nil || !strings.Contains(err.Error(), "MLFLOW_TRACKING_URI") || !strings.Contains(err.Error(), "http://") {
		t.Fatalf("tracker %v, err %v", tr, err)
	}
	opts.DryRun = true // a dry run logs nothing
	if tr, err := startTracking("http://127.0.0.1:1", &opts, &bytes.Buffer{}); tr != nil || err != nil || opts.Tracker != nil {
		t.Fatalf("dry run: %v %v", tr, err)
	}
}
