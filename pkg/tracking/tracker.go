package tracking

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/sweep"
)

// Tags the tracker sets on every MLflow run it logs.
const (
	TagRunID  = "saerun.run_id"
	TagSweep  = "saerun.sweep"
	TagIndex  = "saerun.run_index"
	TagConfig = "saerun.config" // the resolved configuration (JSON); saerun.config.0, .1, … when longer than MaxTagValue
	// TagLogged is set to "complete" last, after the final status: an MLflow run
	// without it is a partial log (the server missed something), which a catch-up
	// deletes and logs again from the Parquet tables.
	TagLogged = "saerun.logged"
)

// MLflowStatus maps a run's status to MLflow's: completed FINISHED, diverged and
// failed FAILED, interrupted KILLED.
func MLflowStatus(status string) string {
	switch status {
	case results.StatusCompleted:
		return "FINISHED"
	case results.StatusInterrupted:
		return "KILLED"
	}
	return "FAILED"
}

// Tracker logs runs to MLflow live (it is a runner.Tracker). Epoch and End only queue
// the call (a bounded queue): a background goroutine sends them, with retries. When
// the queue is full or the server fails a call, that run's live log is abandoned (and
// for a failing server, every call for the next Pause is skipped, so a dead server
// costs one timeout, not one per epoch); one warning says so. Close waits a bounded
// time for the queue; CatchUp then logs from the Parquet tables every run the server
// is missing, and a later --resume catches up again.
type Tracker struct {
	C     *Client
	Log   io.Writer
	Pause time.Duration // after a failed call, skip calls for this long

	queues []chan op // one per worker; a run's calls all go to one, in order
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	dropped map[string]bool // runs with a call dropped from a full queue
	warned  bool

	exps      map[string]string // sweep name -> experiment id
	downUntil time.Time
	live      int // runs logged whole, live
}

// Workers is the number of goroutines sending calls (each run's calls in order, by
// one of them): a tracking server answers concurrent requests faster than the same
// requests one after the other.
const Workers = 4

type liveRun struct {
	id     string // MLflow's
	broken bool
}

type op struct {
	run     sweep.Run
	at      time.Time
	epoch   int
	metrics []results.Metric
	end     *results.Outcome
}

// New returns a tracker for the MLflow server at uri (NewClient's forms), with a
// queue of queueLen calls; warnings go to log.
func New(uri string, log io.Writer, queueLen int) (*Tracker, error) {
	c, err := NewClient(uri)
	if err != nil {
		return nil, err
	}
	return NewWithClient(c, log, queueLen), nil
}

// NewWithClient is New with a client of the caller's.
func NewWithClient(c *Client, log io.Writer, queueLen int) *Tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tracker{C: c, Log: log, Pause: 30 * time.Second, done: make(chan struct{}),
		ctx: ctx, cancel: cancel, dropped: map[string]bool{}, exps: map[string]string{}}
	var wg sync.WaitGroup
	for range Workers {
		q := make(chan op, max(1, (queueLen+Workers-1)/Workers))
		t.queues = append(t.queues, q)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.work(q)
		}()
	}
	go func() {
		wg.Wait()
		close(t.done)
	}()
	return t
}

// Epoch queues one epoch's metrics of a run.
func (t *Tracker) Epoch(run sweep.Run, e *results.Epoch) {
	t.send(op{run: run, at: time.Now(), epoch: e.Epoch, metrics: append([]results.Metric(nil), e.Metrics...)})
}

// End queues a run's end.
func (t *Tracker) End(run sweep.Run, o results.Outcome) {
	t.send(op{run: run, at: time.Now(), end: &o})
}

func (t *Tracker) send(o op) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	h := fnv.New32a()
	h.Write([]byte(o.run.ID))
	q := t.queues[h.Sum32()%uint32(len(t.queues))]
	select {
	case q <- o:
	default:
		t.dropped[o.run.ID] = true
		t.warnLocked(fmt.Errorf("the queue of %d calls is full (the server is slow)", cap(q)*len(t.queues)))
	}
}

func (t *Tracker) warn(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.warnLocked(err)
}

func (t *Tracker) warnLocked(err error) {
	if t.warned {
		return
	}
	t.warned = true
	fmt.Fprintf(t.Log, "warning: MLflow tracking at %s: %v; the sweep goes on (the Parquet tables are the record) and the runs missed are logged from them at the end or on --resume\n", t.C.Base, err)
}

func (t *Tracker) work(q chan op) {
	runs := map[string]*liveRun{} // this worker's runs
	for o := range q {
		lr := runs[o.run.ID]
		if lr == nil {
			lr = &liveRun{}
			runs[o.run.ID] = lr
		}
		t.handle(lr, o)
	}
}

func (t *Tracker) handle(lr *liveRun, o op) {
	if lr.broken {
		return
	}
	t.mu.Lock()
	skip := t.dropped[o.run.ID] || time.Now().Before(t.downUntil)
	t.mu.Unlock()
	// A run resumed from a checkpoint reports only the epochs after it: its live log
	// would miss the first ones, so the catch-up logs it whole from the tables.
	resumed := lr.id == "" && o.end == nil && o.epoch > 1
	if skip || resumed || t.ctx.Err() != nil {
		lr.broken = true
		return
	}
	err := t.apply(lr, o)
	if err != nil {
		lr.broken = true
		t.mu.Lock()
		if retryable(err) {
			t.downUntil = time.Now().Add(t.Pause)
		}
		t.warnLocked(err)
		t.mu.Unlock()
	}
}

func (t *Tracker) apply(lr *liveRun, o op) error {
	ctx := t.ctx
	var params, tags []KV
	if lr.id == "" { // the run's params and configuration go with its first metrics
		var err error
		if lr.id, err = t.create(ctx, o.run.Spec.Name, o.run.Index, o.run.ID, o.at); err != nil {
			return err
		}
		params, tags = liveParams(o.run), ConfigTags(string(o.run.Config))
	}
	if o.end == nil {
		ms := make([]Metric, len(o.metrics))
		for i, m := range o.metrics {
			ms[i] = Metric{Key: m.Split + "/" + m.Name, Value: Value(m.Value), Timestamp: o.at.UnixMilli(), Step: int64(o.epoch)}
		}
		return t.C.LogBatch(ctx, lr.id, ms, params, tags)
	}
	if err := t.C.LogBatch(ctx, lr.id, nil, params, tags); err != nil {
		return err
	}
	if err := t.finish(ctx, lr.id, o.end.Status, o.at); err != nil {
		return err
	}
	t.mu.Lock()
	t.live++
	t.mu.Unlock()
	return nil
}

// finish sets a run's final status, then the tag that says its log is whole.
func (t *Tracker) finish(ctx context.Context, id, status string, at time.Time) error {
	if err := t.C.EndRun(ctx, id, MLflowStatus(status), at); err != nil {
		return err
	}
	return t.C.LogBatch(ctx, id, nil, nil, []KV{{TagLogged, "complete"}})
}

// create creates the MLflow run of a run, in its sweep's experiment.
func (t *Tracker) create(ctx context.Context, sweepName string, index int, id string, at time.Time) (string, error) {
	t.mu.Lock()
	exp, ok := t.exps[sweepName]
	t.mu.Unlock()
	if !ok {
		var err error
		if exp, err = t.C.ExperimentID(ctx, sweepName); err != nil {
			return "", err
		}
		t.mu.Lock()
		t.exps[sweepName] = exp
		t.mu.Unlock()
	}
	return t.C.CreateRun(ctx, exp, id, at, []KV{{TagRunID, id}, {TagSweep, sweepName}, {TagIndex, strconv.Itoa(index)}})
}

// Close stops taking calls and waits up to wait for the queued ones to be sent; what
// is left then is abandoned (CatchUp logs it from the tables). It returns the number
// of runs logged whole, live.
func (t *Tracker) Close(wait time.Duration) int {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		for _, q := range t.queues {
			close(q)
		}
	}
	t.mu.Unlock()
	select {
	case <-t.done:
	case <-time.After(wait):
		t.warn(fmt.Errorf("calls still queued after %s", wait))
		t.cancel()
		<-t.done
	}
	t.cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// liveParams are a run's params: its swept values and its seed.
func liveParams(r sweep.Run) []KV {
	ps := make([]KV, 0, len(r.Params)+1)
	for _, p := range r.Params {
		ps = append(ps, KV{p.Path, FormatParam(p.Value)})
	}
	return append(ps, KV{"seed", strconv.FormatInt(r.Seed, 10)})
}

// FormatParam writes a swept value as an MLflow param: numbers in their shortest
// exact form (1e-05, 2), strings as they are, anything else as JSON. An integer read
// back from the runs table as a float64 prints the same as when it was swept.
func FormatParam(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ConfigTags holds a run's resolved configuration: one tag saerun.config when it fits
// a tag, else saerun.config.0, .1, … (each at most MaxTagValue bytes, cut between
// UTF-8 characters) and saerun.config.parts, whose concatenation is the whole.
func ConfigTags(config string) []KV {
	if len(config) <= MaxTagValue {
		return []KV{{TagConfig, config}}
	}
	var tags []KV
	for i := 0; len(config) > 0; i++ {
		n := min(len(config), MaxTagValue)
		for n < len(config) && n > 0 && config[n]&0xC0 == 0x80 { // not inside a character
			n--
		}
		tags = append(tags, KV{fmt.Sprintf("%s.%d", TagConfig, i), config[:n]})
		config = config[n:]
	}
	return append(tags, KV{TagConfig + ".parts", strconv.Itoa(len(tags))})
}

// CatchUpResult counts what a catch-up did.
type CatchUpResult struct {
	Logged   int // runs logged from the tables
	Present  int // runs the server already held whole
	Replaced int // partial logs deleted
}

// CatchUp logs to MLflow, from the sweep folder's tables, every run of this shard
// (run_index ≡ shard mod shards) that has a runs/ row but no whole MLflow run with
// its final status; partial MLflow runs of the same run are deleted first. Run it
// after Close: a run is never logged twice.
func (t *Tracker) CatchUp(ctx context.Context, dir string, shard, shards int) (CatchUpResult, error) {
	var res CatchUpResult
	sw, err := results.Open(dir)
	if err != nil {
		return res, err
	}
	all, err := sw.Runs(results.Filter{})
	if err != nil {
		return res, err
	}
	latest := map[string]results.Run{}
	var order []string
	for _, r := range all {
		if shards > 1 && int(r.RunIndex)%shards != shard {
			continue
		}
		if p, ok := latest[r.RunID]; !ok {
			order = append(order, r.RunID)
		} else if p.EndTime.After(r.EndTime) {
			continue
		}
		latest[r.RunID] = r
	}
	if len(order) == 0 {
		return res, nil
	}
	name := latest[order[0]].Sweep
	exp, err := t.C.ExperimentID(ctx, name)
	if err != nil {
		return res, err
	}
	logged, err := t.C.SearchRuns(ctx, exp)
	if err != nil {
		return res, err
	}
	byID := map[string][]Run{}
	for _, m := range logged {
		if id := m.Tag(TagRunID); id != "" {
			byID[id] = append(byID[id], m)
		}
	}
	var missing []string
	for _, id := range order {
		want := MLflowStatus(latest[id].Status)
		whole := false
		for _, m := range byID[id] {
			whole = whole || (wholeLog(m) && m.Info.Status == want)
		}
		for _, m := range byID[id] { // partial logs of this run: replaced, or left over
			if !wholeLog(m) {
				if err := t.C.DeleteRun(ctx, m.Info.ID); err != nil {
					return res, err
				}
				res.Replaced++
			}
		}
		if whole {
			res.Present++
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return res, nil
	}
	metrics, err := sw.Metrics(results.Filter{RunIDs: missing})
	if err != nil {
		return res, err
	}
	byRun := map[string][]results.MetricRow{}
	for _, m := range metrics {
		byRun[m.RunID] = append(byRun[m.RunID], m)
	}
	// Logged by Workers goroutines, as the live calls are.
	ids := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				err := t.logFromTables(ctx, exp, latest[id], byRun[id])
				mu.Lock()
				if err == nil {
					res.Logged++
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range missing {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		ids <- id
	}
	close(ids)
	wg.Wait()
	return res, first
}

// wholeLog reports whether an MLflow run holds a whole log: its final status set, and
// then the tag that says so.
func wholeLog(m Run) bool {
	return m.Tag(TagLogged) == "complete" && m.Info.Status != "RUNNING" && m.Info.Status != "SCHEDULED"
}

func (t *Tracker) logFromTables(ctx context.Context, exp string, r results.Run, rows []results.MetricRow) error {
	t.mu.Lock()
	t.exps[r.Sweep] = exp
	t.mu.Unlock()
	params := make([]KV, 0, len(r.Params)+1)
	for k, v := range r.Params {
		params = append(params, KV{k, FormatParam(v)})
	}
	params = append(params, KV{"seed", strconv.FormatInt(r.Seed, 10)})
	id, err := t.create(ctx, r.Sweep, int(r.RunIndex), r.RunID, r.StartTime)
	if err != nil {
		return err
	}
	ms := make([]Metric, len(rows))
	for i, m := range rows {
		at := r.StartTime.Add(time.Duration(m.ElapsedSeconds * float64(time.Second)))
		ms[i] = Metric{Key: m.Split + "/" + m.Metric, Value: Value(m.Value), Timestamp: at.UnixMilli(), Step: int64(m.Epoch)}
	}
	if err := t.C.LogBatch(ctx, id, ms, params, ConfigTags(r.Config)); err != nil {
		return err
	}
	return t.finish(ctx, id, r.Status, r.EndTime)
}
