package tracking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// fakeMLflow is an in-memory MLflow tracking server with the endpoints the tracker
// uses, answering as MLflow 3 does (error JSON with error_code).
type fakeMLflow struct {
	mu      sync.Mutex
	exps    map[string]string // name -> id
	runs    map[string]*Run
	history map[string][]Metric // run id + "\x00" + key
	calls   atomic.Int64
	fail    func(path string, n int64) int // status to answer instead (0: answer)
	delay   time.Duration
	nextRun int
}

func newFake() *fakeMLflow {
	return &fakeMLflow{exps: map[string]string{}, runs: map[string]*Run{}, history: map[string][]Metric{}}
}

func (f *fakeMLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/2.0/mlflow/")
	if f.fail != nil {
		if st := f.fail(path, n); st != 0 {
			http.Error(w, "<html><body>broken\n proxy</body></html>", st)
			return
		}
	}
	var in map[string]json.RawMessage
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiErr(w, 400, "INVALID_PARAMETER_VALUE", err.Error())
			return
		}
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(in[k], &s)
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch path {
	case "experiments/get-by-name":
		id, ok := f.exps[r.URL.Query().Get("experiment_name")]
		if !ok {
			apiErr(w, 404, "RESOURCE_DOES_NOT_EXIST", "no experiment")
			return
		}
		writeJSON(w, map[string]any{"experiment": map[string]any{"experiment_id": id, "lifecycle_stage": "active"}})
	case "experiments/create":
		name := str("name")
		if _, ok := f.exps[name]; ok {
			apiErr(w, 400, "RESOURCE_ALREADY_EXISTS", "exists")
			return
		}
		f.exps[name] = fmt.Sprint(len(f.exps) + 1)
		writeJSON(w, map[string]any{"experiment_id": f.exps[name]})
	case "runs/create":
		f.nextRun++
		id := fmt.Sprintf("r%d", f.nextRun)
		run := &Run{Info: RunInfo{ID: id, Name: str("run_name"), Status: "RUNNING"}}
		json.Unmarshal(in["tags"], &run.Data.Tags)
		f.runs[id] = run
		writeJSON(w, map[string]any{"run": run})
	case "runs/log-batch":
		run := f.runs[str("run_id")]
		var ms []Metric
		var ps, ts []KV
		for k, dst := range map[string]any{"metrics": &ms, "params": &ps, "tags": &ts} {
			if string(in[k]) == "null" || in[k] == nil {
				apiErr(w, 500, "", "null list")
				return
			}
			if err := json.Unmarshal(in[k], dst); err != nil {
				apiErr(w, 400, "INVALID_PARAMETER_VALUE", err.Error())
				return
			}
		}
		if run == nil {
			apiErr(w, 404, "RESOURCE_DOES_NOT_EXIST", "no run")
			return
		}
		for _, m := range ms {
			f.history[run.Info.ID+"\x00"+m.Key] = append(f.history[run.Info.ID+"\x00"+m.Key], m)
		}
		run.Data.Params = append(run.Data.Params, ps...)
		run.Data.Tags = append(run.Data.Tags, ts...)
		writeJSON(w, map[string]any{})
	case "runs/update":
		f.runs[str("run_id")].Info.Status = str("status")
		writeJSON(w, map[string]any{})
	case "runs/delete":
		delete(f.runs, str("run_id"))
		writeJSON(w, map[string]any{})
	case "runs/search":
		var all []*Run
		for _, r := range f.runs {
			all = append(all, r)
		}
		writeJSON(w, map[string]any{"runs": all})
	default:
		apiErr(w, 404, "ENDPOINT_NOT_FOUND", path)
	}
}

func apiErr(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }

func (f *fakeMLflow) byName() map[string]*Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*Run{}
	for _, r := range f.runs {
		out[r.Info.Name] = r
	}
	return out
}

func testRun(id string, index int) sweep.Run {
	return sweep.Run{Index: index, ID: id, Seed: 7, Spec: &spec.Spec{Name: "sweep-a"},
		Params: []sweep.Param{{Path: "regularizers.0.weight", Value: 1e-05}, {Path: "model.sae.k", Value: 2}},
		Config: []byte(`{"name":"sweep-a"}`)}
}

func epoch(n int, loss float64) *results.Epoch {
	return &results.Epoch{Epoch: n, Metrics: []results.Metric{{Split: "train", Name: "loss", Value: loss}, {Split: "validation", Name: "l0/encoder.0", Value: 3}}}
}

func fastClient(url string) *Client {
	c, err := NewClient(url)
	if err != nil {
		panic(err)
	}
	c.Backoff = time.Millisecond
	c.HTTP.Timeout = 2 * time.Second
	return c
}

func TestTrackerLogsParamsMetricsPerEpochAndFinalStatus(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	var log bytes.Buffer
	tr := NewWithClient(fastClient(srv.URL), &log, 100)
	a, b, c := testRun("aaaaaaaaaaaa", 0), testRun("bbbbbbbbbbbb", 1), testRun("cccccccccccc", 2)
	for e := 1; e <= 3; e++ {
		tr.Epoch(a, epoch(e, float64(e)))
		tr.Epoch(b, epoch(e, math.NaN()))
	}
	tr.End(a, results.Outcome{Status: results.StatusCompleted})
	tr.End(b, results.Outcome{Status: results.StatusDiverged})
	tr.Epoch(c, epoch(1, 1))
	tr.End(c, results.Outcome{Status: results.StatusInterrupted})
	if live := tr.Close(5 * time.Second); live != 3 {
		t.Fatalf("live = %d, want 3 (log: %s)", live, log.String())
	}
	if log.Len() != 0 {
		t.Errorf("warnings from a healthy server: %s", log.String())
	}
	runs := f.byName()
	want := map[string]string{"aaaaaaaaaaaa": "FINISHED", "bbbbbbbbbbbb": "FAILED", "cccccccccccc": "KILLED"}
	for name, st := range want {
		r := runs[name]
		if r == nil {
			t.Fatalf("no MLflow run named %s", name)
		}
		if r.Info.Status != st || r.Tag(TagLogged) != "complete" || r.Tag(TagRunID) != name || r.Tag(TagConfig) != `{"name":"sweep-a"}` {
			t.Errorf("%s: status %s, tags %v", name, r.Info.Status, r.Data.Tags)
		}
		params := map[string]string{}
		for _, p := range r.Data.Params {
			params[p.Key] = p.Value
		}
		if params["regularizers.0.weight"] != "1e-05" || params["model.sae.k"] != "2" || params["seed"] != "7" {
			t.Errorf("%s: params %v", name, params)
		}
	}
	h := f.history[runs["aaaaaaaaaaaa"].Info.ID+"\x00train/loss"]
	if len(h) != 3 || h[0].Step != 1 || h[2].Step != 3 || h[2].Value != 3 {
		t.Errorf("train/loss history %+v", h)
	}
	if h := f.history[runs["bbbbbbbbbbbb"].Info.ID+"\x00train/loss"]; len(h) != 3 || !math.IsNaN(float64(h[0].Value)) {
		t.Errorf("a diverged run's NaN losses: %+v", h)
	}
	if id, _ := f.exps["sweep-a"]; id == "" {
		t.Errorf("no experiment named after the sweep: %v", f.exps)
	}
}

func TestClientRetriesServerErrorsWithBackoff(t *testing.T) {
	f := newFake()
	f.fail = func(path string, n int64) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := fastClient(srv.URL)
	id, err := c.ExperimentID(t.Context(), "x")
	if err != nil || id == "" {
		t.Fatalf("after two 503s: id %q, err %v", id, err)
	}
}

func TestClientDoesNotRetryClientErrors(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := fastClient(srv.URL)
	err := c.LogBatch(t.Context(), "no-such-run", []Metric{{Key: "a", Value: 1}}, nil, nil)
	var api *APIError
	if !errorsAs(err, &api) || api.Code != "RESOURCE_DOES_NOT_EXIST" {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("a 404 was sent %d times, want once", n)
	}
}

func TestServerErrorPageIsOneLine(t *testing.T) {
	f := newFake()
	f.fail = func(string, int64) int { return 502 }
	srv := httptest.NewServer(f)
	defer srv.Close()
	err := fastClient(srv.URL).EndRun(t.Context(), "r", "FINISHED", time.Now())
	if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "<html") {
		t.Fatalf("err = %q", err)
	}
}

func TestDownServerNeverBlocksTheSweepAndWarnsOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	var log bytes.Buffer
	c := fastClient(url)
	tr := NewWithClient(c, &log, 16)
	start := time.Now()
	for i := range 50 {
		r := testRun(fmt.Sprintf("%012d", i), i)
		for e := 1; e <= 20; e++ {
			tr.Epoch(r, epoch(e, 1))
		}
		tr.End(r, results.Outcome{Status: results.StatusCompleted})
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("1050 calls took %s with the server down", d)
	}
	if live := tr.Close(5 * time.Second); live != 0 {
		t.Errorf("live = %d with no server", live)
	}
	if n := strings.Count(log.String(), "warning:"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, log.String())
	}
}

func TestFullQueueLeavesTheRunToCatchUpWithoutBlocking(t *testing.T) {
	f := newFake()
	f.delay = 300 * time.Millisecond
	srv := httptest.NewServer(f)
	defer srv.Close()
	var log bytes.Buffer
	tr := NewWithClient(fastClient(srv.URL), &log, 4)
	r := testRun("aaaaaaaaaaaa", 0)
	start := time.Now()
	for e := 1; e <= 100; e++ {
		tr.Epoch(r, epoch(e, 1))
	}
	tr.End(r, results.Outcome{Status: results.StatusCompleted})
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("101 calls to a slow server took %s", d)
	}
	closeStart := time.Now()
	live := tr.Close(time.Second)
	if d := time.Since(closeStart); d > 3*time.Second {
		t.Errorf("Close took %s, want about its 1s bound", d)
	}
	if live != 0 {
		t.Errorf("a run with dropped epochs counted as logged whole")
	}
	if !strings.Contains(log.String(), "queue") || strings.Count(log.String(), "warning:") != 1 {
		t.Errorf("want one warning about the full queue, got:\n%s", log.String())
	}
	for _, run := range f.byName() {
		if run.Tag(TagLogged) == "complete" {
			t.Errorf("a partial log is marked complete: %+v", run.Info)
		}
	}
}

func TestNewClientRefusesNonHTTPURIs(t *testing.T) {
	for _, uri := range []string{"file:///tmp/mlruns", "databricks", "sqlite:///x.db", "http://", "127.0.0.1:5000"} {
		if _, err := NewClient(uri); err == nil || !strings.Contains(err.Error(), "http://") {
			t.Errorf("%q: err = %v", uri, err)
		}
	}
	if _, err := NewClient("https://mlflow.example.org/"); err != nil {
		t.Error(err)
	}
}

func TestValueJSONRoundTripsNonFinite(t *testing.T) {
	for _, v := range []float64{0, 1e-05, -3.5, math.NaN(), math.Inf(1), math.Inf(-1)} {
		b, err := json.Marshal(Value(v))
		if err != nil {
			t.Fatal(err)
		}
		var back Value
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !(float64(back) == v || math.IsNaN(v) && math.IsNaN(float64(back))) {
			t.Errorf("%v -> %s -> %v", v, b, back)
		}
	}
}

func TestConfigTagsSplitLongConfigsWhole(t *testing.T) {
	long := strings.Repeat("é", MaxTagValue) // 2 bytes each: cut points fall inside characters
	tags := ConfigTags(long)
	var joined strings.Builder
	for _, kv := range tags[:len(tags)-1] {
		if len(kv.Value) > MaxTagValue || !strings.HasPrefix(kv.Key, TagConfig+".") {
			t.Fatalf("part %s of %d bytes", kv.Key, len(kv.Value))
		}
		joined.WriteString(kv.Value)
	}
	if joined.String() != long || tags[len(tags)-1].Key != TagConfig+".parts" || tags[len(tags)-1].Value != "2" {
		t.Errorf("parts do not rebuild the config (%d tags, last %v)", len(tags), tags[len(tags)-1])
	}
	if got := ConfigTags(`{"a":1}`); len(got) != 1 || got[0].Key != TagConfig {
		t.Errorf("short config: %v", got)
	}
}

func TestFormatParamKeepsValuesAsWritten(t *testing.T) {
	for v, want := range map[any]string{1e-05: "1e-05", 0.3: "0.3", 2: "2", float64(2): "2", int64(64): "64", "a<b": "a<b", true: "true"} {
		if got := FormatParam(v); got != want {
			t.Errorf("%#v: %q, want %q", v, got, want)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestCloseIsBoundedWhenTheServerHangs(t *testing.T) {
	f := newFake()
	f.delay = 2 * time.Second
	srv := httptest.NewServer(f)
	defer srv.Close()
	var log bytes.Buffer
	tr := NewWithClient(fastClient(srv.URL), &log, 100)
	r := testRun("aaaaaaaaaaaa", 0)
	start := time.Now()
	for e := 1; e <= 3; e++ {
		tr.Epoch(r, epoch(e, 1))
	}
	tr.End(r, results.Outcome{Status: results.StatusCompleted})
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("queuing 4 calls took %s", d)
	}
	live := tr.Close(300 * time.Millisecond)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s past its 300ms bound with a hanging server", d)
	}
	if live != 0 || strings.Count(log.String(), "warning:") != 1 || !strings.Contains(log.String(), "still queued") {
		t.Errorf("live %d, log:\n%s", live, log.String())
	}
}

// A run resumed from a checkpoint starts at a later epoch: it is not logged live (its
// first epochs would be missing) but left to the catch-up, without a warning.
func TestRunResumedMidwayIsLeftToTheCatchUp(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	var log bytes.Buffer
	tr := NewWithClient(fastClient(srv.URL), &log, 100)
	r := testRun("aaaaaaaaaaaa", 0)
	tr.Epoch(r, epoch(3, 1))
	tr.Epoch(r, epoch(4, 1))
	tr.End(r, results.Outcome{Status: results.StatusCompleted})
	if live := tr.Close(5 * time.Second); live != 0 || len(f.byName()) != 0 || log.Len() != 0 {
		t.Fatalf("live %d, runs %v, log %q", live, f.byName(), log.String())
	}
}
