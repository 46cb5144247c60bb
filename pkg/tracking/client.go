// Package tracking logs a sweep's runs to an MLflow tracking server through its REST
// API (api/2.0/mlflow/...), live as they train, and catches up from the Parquet tables
// what the server missed. The Parquet tables stay the record: a server that is down,
// slow or refusing never fails or slows a sweep (see Tracker).
//
// The mapping: one MLflow experiment per sweep, named after it; one MLflow run per
// run, named by its run id, with the swept parameters and the seed as params, the
// resolved configuration as the tag saerun.config, every metric of every epoch as
// "split/metric" with step = epoch, and its status at the end (completed: FINISHED,
// diverged and failed: FAILED, interrupted: KILLED).
package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is a small MLflow REST client with retries: a connection error, a 5xx or a
// 429 is retried with exponential back-off (Backoff, doubled each time) up to Tries
// times in all; any other error is returned at once.
type Client struct {
	Base    string // the tracking URI, e.g. http://127.0.0.1:5000
	HTTP    *http.Client
	Tries   int
	Backoff time.Duration
}

// NewClient returns a client for an http(s) tracking URI; any other scheme (a file
// store, databricks, ...) is refused with the allowed forms named.
func NewClient(uri string) (*Client, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("MLflow tracking URI %q: want an http:// or https:// address of a tracking server (e.g. http://127.0.0.1:5000); file stores and other schemes are not supported", uri)
	}
	return &Client{
		Base:    strings.TrimRight(uri, "/"),
		HTTP:    &http.Client{Timeout: 10 * time.Second},
		Tries:   4,
		Backoff: 250 * time.Millisecond,
	}, nil
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string // MLflow's error_code, e.g. RESOURCE_DOES_NOT_EXIST
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("MLflow: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

func retryable(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.Status >= 500 || api.Status == http.StatusTooManyRequests
	}
	return !errors.Is(err, context.Canceled)
}

// call sends one request (a JSON body for POST, the query for GET) and decodes the
// answer into out (nil: ignored), with retries.
func (c *Client) call(ctx context.Context, method, path string, in any, out any) error {
	var err error
	wait := c.Backoff
	for try := 1; ; try++ {
		err = c.once(ctx, method, path, in, out)
		if err == nil || !retryable(err) || try >= max(1, c.Tries) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) once(ctx context.Context, method, path string, in any, out any) error {
	u := c.Base + "/api/2.0/mlflow/" + path
	var body io.Reader
	if method == http.MethodGet {
		if q, ok := in.(url.Values); ok {
			u += "?" + q.Encode()
		}
	} else {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			// Not MLflow's JSON (a proxy's or the framework's page): one line of it.
			e.Message = strings.Join(strings.Fields(string(b)), " ")
			if strings.HasPrefix(e.Message, "<") || e.Message == "" {
				e.Message = http.StatusText(resp.StatusCode)
			}
			if len(e.Message) > 200 {
				e.Message = e.Message[:200] + "…"
			}
		}
		return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("MLflow %s: %w", path, err)
	}
	return nil
}

// Value is a metric value as MLflow's JSON takes it: a number, or "NaN", "Infinity"
// and "-Infinity" (protobuf's JSON spelling) for a diverged run's values.
type Value float64

func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (v *Value) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*v = Value(math.NaN())
	case `"Infinity"`:
		*v = Value(math.Inf(1))
	case `"-Infinity"`:
		*v = Value(math.Inf(-1))
	default:
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return err
		}
		*v = Value(f)
	}
	return nil
}

// Metric is one logged value.
type Metric struct {
	Key       string `json:"key"`
	Value     Value  `json:"value"`
	Timestamp int64  `json:"timestamp"`
	Step      int64  `json:"step"`
}

// KV is a param or a tag.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunInfo is what the server returns of a run.
type RunInfo struct {
	ID     string `json:"run_id"`
	Name   string `json:"run_name"`
	Status string `json:"status"`
}

// Run is a run with its tags and params.
type Run struct {
	Info RunInfo `json:"info"`
	Data struct {
		Tags   []KV     `json:"tags"`
		Params []KV     `json:"params"`
		Metric []Metric `json:"metrics"`
	} `json:"data"`
}

// Tag returns a tag's value ("" when absent).
func (r Run) Tag(key string) string {
	for _, t := range r.Data.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// ExperimentID returns the id of the experiment named name, creating it when there
// is none (a concurrent creation by another shard is taken as found).
func (c *Client) ExperimentID(ctx context.Context, name string) (string, error) {
	var got struct {
		Experiment struct {
			ID             string `json:"experiment_id"`
			LifecycleStage string `json:"lifecycle_stage"`
		} `json:"experiment"`
	}
	err := c.call(ctx, http.MethodGet, "experiments/get-by-name", url.Values{"experiment_name": {name}}, &got)
	var api *APIError
	if err == nil {
		if got.Experiment.LifecycleStage == "deleted" {
			return "", fmt.Errorf("MLflow experiment %q is deleted: restore it (mlflow experiments restore) or delete it for good (mlflow gc)", name)
		}
		return got.Experiment.ID, nil
	}
	if !errors.As(err, &api) || api.Code != "RESOURCE_DOES_NOT_EXIST" {
		return "", err
	}
	var created struct {
		ID string `json:"experiment_id"`
	}
	err = c.call(ctx, http.MethodPost, "experiments/create", map[string]any{"name": name}, &created)
	if errors.As(err, &api) && api.Code == "RESOURCE_ALREADY_EXISTS" {
		return c.ExperimentID(ctx, name)
	}
	return created.ID, err
}

// CreateRun starts a run named name in the experiment and returns its id.
func (c *Client) CreateRun(ctx context.Context, experiment, name string, start time.Time, tags []KV) (string, error) {
	var got struct {
		Run Run `json:"run"`
	}
	err := c.call(ctx, http.MethodPost, "runs/create", map[string]any{
		"experiment_id": experiment, "run_name": name, "start_time": start.UnixMilli(), "tags": tags,
	}, &got)
	return got.Run.Info.ID, err
}

// Batch limits of MLflow's runs/log-batch.
const (
	maxBatchMetrics = 1000
	maxBatchParams  = 100
	maxBatchTags    = 100
	// MaxTagValue is the longest tag value the server keeps (MLflow 3: 8000).
	MaxTagValue = 8000
)

// LogBatch logs metrics, params and tags to a run, in as many requests as the
// server's batch limits need.
func (c *Client) LogBatch(ctx context.Context, run string, metrics []Metric, params, tags []KV) error {
	for len(metrics) > 0 || len(params) > 0 || len(tags) > 0 {
		m, p, t := min(len(metrics), maxBatchMetrics), min(len(params), maxBatchParams), min(len(tags), maxBatchTags)
		// Empty lists as [], never null: the server refuses a null list.
		body := map[string]any{"run_id": run, "metrics": append([]Metric{}, metrics[:m]...),
			"params": append([]KV{}, params[:p]...), "tags": append([]KV{}, tags[:t]...)}
		if err := c.call(ctx, http.MethodPost, "runs/log-batch", body, nil); err != nil {
			return err
		}
		metrics, params, tags = metrics[m:], params[p:], tags[t:]
	}
	return nil
}

// EndRun sets a run's final status (FINISHED, FAILED, KILLED) and end time.
func (c *Client) EndRun(ctx context.Context, run, status string, end time.Time) error {
	return c.call(ctx, http.MethodPost, "runs/update", map[string]any{"run_id": run, "status": status, "end_time": end.UnixMilli()}, nil)
}

// DeleteRun marks a run deleted (a partial log that a catch-up replaces).
func (c *Client) DeleteRun(ctx context.Context, run string) error {
	return c.call(ctx, http.MethodPost, "runs/delete", map[string]any{"run_id": run}, nil)
}

// SearchRuns returns every active run of the experiment (all pages).
func (c *Client) SearchRuns(ctx context.Context, experiment string) ([]Run, error) {
	var all []Run
	token := ""
	for {
		var got struct {
			Runs  []Run  `json:"runs"`
			Token string `json:"next_page_token"`
		}
		body := map[string]any{"experiment_ids": []string{experiment}, "max_results": 1000, "run_view_type": "ACTIVE_ONLY"}
		if token != "" {
			body["page_token"] = token
		}
		if err := c.call(ctx, http.MethodPost, "runs/search", body, &got); err != nil {
			return nil, err
		}
		all = append(all, got.Runs...)
		if got.Token == "" {
			return all, nil
		}
		token = got.Token
	}
}

// MetricHistory returns every logged value of one metric of a run.
func (c *Client) MetricHistory(ctx context.Context, run, key string) ([]Metric, error) {
	var got struct {
		Metrics []Metric `json:"metrics"`
	}
	err := c.call(ctx, http.MethodGet, "metrics/get-history", url.Values{"run_id": {run}, "metric_key": {key}, "max_results": {"25000"}}, &got)
	return got.Metrics, err
}
