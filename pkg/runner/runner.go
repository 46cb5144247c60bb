// Package runner executes a spec: it expands the sweep, skips runs already done (with
// --resume), keeps this process's shard, groups compatible runs, trains each group and
// streams every run's results to Parquet. The command line (experiments/) and the
// notebooks both call Run, so a notebook sweep is the same code path as a batch one.
package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// Options are the command-line settings that are not part of the spec (they do not
// change what a run computes, only where and how it is run). Stdout gets results (the
// dry-run listing), Log the logs and progress; they default to os.Stdout and os.Stderr.
type Options struct {
	Out        string   // results root; default "results"
	DataDir    string   // mnist / fashion-mnist folder; default data.DefaultDir()
	Backend    string   // auto, go, xla, xla:<plugin>; default $GOMLX_BACKEND or auto
	Resume     bool     // skip runs already done
	Shard      int      // this process's shard, 0 <= Shard < Shards
	Shards     int      // number of processes sharing the sweep; 0 or 1: all runs
	GroupSize  int      // max runs trained together; 0: automatic (MaxGroupSize)
	DryRun     bool     // print the runs and stop
	NoCompact  bool     // keep one file per run and table when the sweep completes
	Set        []string // key=value overrides of the spec (--set)
	Log        io.Writer
	Stdout     io.Writer
	JSON       bool     // with DryRun: one JSON object per run instead of text lines
	Progress   Progress // nil: chosen from Log (bars on a terminal, else lines)
	BackendObj compute.Backend
	// StallTimeout: a group with no progress for this long is abandoned (watchdog.go);
	// 0: $SAERUN_STALL_TIMEOUT or DefaultStallTimeout; negative: never.
	StallTimeout time.Duration
}

// Summary counts what happened to the runs of this invocation.
type Summary struct {
	Dir                                    string
	Runs, Skipped                          int
	Completed, Diverged, Failed, Interrupt int
	Busy                                   int // held by another runner on the same folder
	Backend                                backend.Info
	Wall                                   time.Duration
}

// Finished reports whether every run of this invocation completed.
func (s Summary) Finished() bool { return s.Diverged+s.Failed+s.Interrupt == 0 }

// UsageError marks errors in the spec or the options (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// RunFile loads the spec at path and runs it.
func RunFile(ctx context.Context, path string, opts Options) (Summary, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Summary{}, &UsageError{fmt.Errorf("%s: cannot read spec: %w", path, err)}
	}
	if raw, err = spec.Override(path, raw, opts.Set); err != nil {
		return Summary{}, &UsageError{err}
	}
	s, src, err := spec.Parse(path, raw)
	if err != nil {
		return Summary{}, &UsageError{err}
	}
	return Run(ctx, s, src, opts)
}

// Run runs a loaded spec.
func Run(ctx context.Context, s *spec.Spec, src *spec.Source, opts Options) (Summary, error) {
	start := time.Now()
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Out == "" {
		opts.Out = "results"
	}
	if opts.Shards < 1 {
		opts.Shards = 1
	}
	if opts.Shard < 0 || opts.Shard >= opts.Shards {
		return Summary{}, &UsageError{fmt.Errorf("--shard %d/%d: the index must be in 0..%d", opts.Shard, opts.Shards, opts.Shards-1)}
	}
	expand := func() ([]sweep.Run, error) { return sweep.ExpandShard(s, src, opts.Shard, opts.Shards) }
	if opts.DryRun && !opts.JSON { // the text listing needs no resolved configuration
		expand = func() ([]sweep.Run, error) { return sweep.ExpandIDs(s, src) }
	}
	runs, err := expand() // only the runs this process trains keep their Spec
	if err != nil {
		return Summary{}, &UsageError{err}
	}
	mine := sweep.Shard(runs, opts.Shard, opts.Shards)
	if opts.DryRun {
		if err := printRuns(opts.Stdout, opts.Log, s.Name, runs, mine, opts); err != nil {
			return Summary{}, err
		}
		return Summary{Runs: len(mine)}, nil
	}

	// Everything that can be checked before writing is checked: backend and data.
	be, info := opts.BackendObj, backend.Info{Name: "custom"}
	if be == nil {
		be, info, err = backend.Open(opts.Backend)
		if err != nil {
			return Summary{}, &UsageError{err}
		}
	} else {
		info.Name, info.Device = be.Name(), backend.DeviceOf(be)
	}
	sets := newDataCache(opts.DataDir)
	for _, r := range mine {
		d, err := sets.get(r.Spec.Dataset)
		if err != nil {
			return Summary{}, err
		}
		if err := CheckLoss(r.Spec, d); err != nil {
			return Summary{}, &UsageError{err}
		}
	}
	if err := checkMemory(src.Path, mine, sets, opts.GroupSize, info.Device); err != nil {
		return Summary{}, &UsageError{err}
	}

	sw, err := writer.OpenSweep(opts.Out, s.Name, src.Data)
	if err != nil {
		if errors.Is(err, writer.ErrSpecChanged) {
			return Summary{}, &UsageError{err}
		}
		return Summary{}, err
	}
	sum := Summary{Dir: sw.Dir, Runs: len(mine), Backend: info}
	lock, err := results.LockForWriting(sw.Dir, opts.Log)
	if err != nil {
		return sum, err
	}
	defer lock.Release()
	statuses, err := sw.Statuses()
	if err != nil {
		return sum, err
	}
	var pending []sweep.Run
	for _, r := range mine {
		st, seen := statuses[r.ID]
		switch {
		case seen && !opts.Resume:
			return sum, &UsageError{fmt.Errorf("%s already holds results for run %s (status %s): add --resume to continue this sweep, or use another name or --out",
				sw.Dir, r.ID, st)}
		case seen && results.Done(st):
			sum.Skipped++
		default:
			pending = append(pending, r)
		}
	}
	fmt.Fprintf(opts.Log, "sweep %s: %d runs (%d in this shard, %d already done) on backend %s -> %s\n",
		s.Name, len(runs), len(mine), sum.Skipped, info, sw.Dir)
	if n := foreignRuns(statuses, runs); n > 0 {
		fmt.Fprintf(opts.Log, "note: %s holds %d run(s) that are none of this spec's runs (written before run ids hashed the canonical form %s?); they are kept and not counted as done\n",
			sw.Dir, n, spec.CanonicalVersion)
	}

	groups := Groups(pending, func(r sweep.Run) int {
		if opts.GroupSize > 0 {
			return opts.GroupSize
		}
		d, _ := sets.get(r.Spec.Dataset)
		return MaxGroupSize(r.Spec, d.Train.Dim, info.Device)
	})
	prog := opts.Progress
	if prog == nil {
		prog = NewProgress(opts.Log)
	}
	stall, err := stallTimeout(opts.StallTimeout)
	if err != nil {
		return sum, &UsageError{err}
	}
	trainer := train.NewTrainer(be, train.Options{}) // compiles each kind of group once
	defer func() { trainer.Close() }()
	done := 0
	for gi, g := range groups {
		if ctx.Err() != nil {
			break
		}
		g, claims, err := claim(sw, g, &sum)
		if err != nil {
			return sum, err
		}
		if len(g) == 0 {
			continue
		}
		d, _ := sets.get(g[0].Spec.Dataset)
		prog.StartGroup(gi, len(groups), g, done, len(pending))
		outcomes, err := trainGroup(ctx, trainer, info, sw, g, d, prog, stall, opts.Log)
		prog.EndGroup(outcomes)
		for _, c := range claims {
			c.Release()
		}
		var hung *errHung
		if errors.As(err, &hung) {
			// The hung call still holds the trainer and perhaps the backend (a deadlocked
			// worker pool): the next groups get fresh ones.
			if trainer, err = reopen(opts, &be, info); err != nil {
				return sum, err
			}
		} else if err != nil {
			return sum, err
		}
		for _, o := range outcomes {
			switch o.Status {
			case train.StatusCompleted:
				sum.Completed++
			case train.StatusDiverged:
				sum.Diverged++
			case train.StatusInterrupted:
				sum.Interrupt++
			default:
				sum.Failed++
			}
		}
		done += len(g)
	}
	lock.Release()
	if ctx.Err() == nil && !opts.NoCompact {
		if err := compactIfDone(sw.Dir, runs, opts.Log); err != nil {
			return sum, err
		}
	}
	sum.Wall = time.Since(start)
	printSize(opts.Log, sw.Dir, len(runs))
	return sum, nil
}

// compactIfDone compacts the sweep's tables (results.Compact) when every run of the
// sweep, in every shard, is done. When another runner still writes the folder, it is
// left to that runner, which compacts when it ends. A failed compaction is a warning:
// it leaves the per-run files as they were.
func compactIfDone(dir string, runs []sweep.Run, log io.Writer) error {
	statuses, err := results.ReadStatuses(dir)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if !results.Done(statuses[r.ID]) {
			return nil
		}
	}
	tables, err := results.Compact(dir, results.CompactOptions{})
	if errors.Is(err, results.ErrBusy) {
		fmt.Fprintf(log, "not compacting %s: another runner is writing it and compacts it when it ends\n", dir)
		return nil
	}
	if err != nil {
		// The runs are recorded and the per-run layout is intact: the sweep succeeded.
		fmt.Fprintf(log, "warning: %v (the per-run files are intact and complete)\n", err)
		return nil
	}
	for _, t := range tables {
		if t.RunsMerged > 0 {
			fmt.Fprintf(log, "compacted %s/%s: %d files -> %d (%d rows)\n", dir, t.Table, t.FilesBefore, t.FilesAfter, t.Rows)
		}
	}
	return nil
}

// printSize prints what the sweep folder takes on disk, in all and per run: the line
// to watch when a sweep grows to thousands of runs.
func printSize(log io.Writer, dir string, runs int) {
	r, err := results.Open(dir)
	if err != nil {
		return
	}
	sizes, err := r.Sizes()
	if err != nil || runs == 0 {
		return
	}
	var total int64
	var files int
	var parts []string
	for _, t := range sizes {
		total += t.Bytes
		files += t.Files
		parts = append(parts, fmt.Sprintf("%s %s", t.Table, results.HumanBytes(t.Bytes)))
	}
	fmt.Fprintf(log, "results: %s in %d files, %s per run (%s)\n", results.HumanBytes(total), files,
		results.HumanBytes(total/int64(runs)), strings.Join(parts, ", "))
}

// claim takes the runs of g that no other runner holds or has finished since the
// sweep was listed; the returned claims must be released after training.
func claim(sw *writer.Sweep, g []sweep.Run, sum *Summary) ([]sweep.Run, []*writer.Claim, error) {
	var mine []sweep.Run
	var claims []*writer.Claim
	for _, r := range g {
		c, err := sw.Claim(r.ID)
		if errors.Is(err, writer.ErrClaimed) {
			sum.Busy++
			continue
		}
		if err != nil {
			for _, c := range claims {
				c.Release()
			}
			return nil, nil, err
		}
		if st, err := sw.Status(r.ID); err != nil || results.Done(st) {
			// Finished by another runner after we listed the sweep.
			c.Release()
			sum.Busy++
			continue
		}
		mine, claims = append(mine, r), append(claims, c)
	}
	return mine, claims, nil
}

// trainGroup trains one group and records each member's results. A failure to build
// or train the group marks its runs failed (recorded, with the message) and the
// sweep goes on; a failure to write results stops the sweep.
//
// A group that makes no progress for stall (watchdog.go) is abandoned: its runs are
// recorded failed (interrupted after an interrupt) and the error is a *errHung.
func trainGroup(ctx context.Context, trainer *train.Trainer, info backend.Info, sw *writer.Sweep, g []sweep.Run, d train.Data, prog Progress,
	stall time.Duration, log io.Writer) (outcomes []train.Outcome, err error) {
	// A failure to write results marks the group's runs failed (when even that can be
	// written) and stops the sweep: the disk or folder needs attention.
	defer func() {
		var hung *errHung
		if err != nil && !errors.As(err, &hung) {
			for _, r := range g {
				sw.RecordFailed(r, "writing results failed: "+err.Error(), runBackend(info))
			}
			outcomes = nil
		}
	}()
	writers := make([]*writer.RunWriter, len(g))
	members := make([]train.Member, len(g))
	for k, r := range g {
		w, err := sw.StartRun(r)
		if err != nil {
			for _, w := range writers[:k] {
				w.Abort()
			}
			return nil, err
		}
		writers[k] = w
		members[k] = train.Member{RunID: r.ID, Spec: r.Spec}
	}
	obs := &observer{writers: writers, prog: prog, epochs: make([]int, len(g))}
	for _, r := range g {
		obs.runIDs = append(obs.runIDs, r.ID)
	}
	outcomes, err = watchedTrain(ctx, stall, log, obs, func() ([]train.Outcome, error) {
		return trainer.Train(ctx, members, d, obs)
	})
	var hung *errHung
	if errors.As(err, &hung) { // results written so far are kept; the runs are rerun with --resume
		status := train.StatusFailed
		if ctx.Err() != nil {
			status = train.StatusInterrupted
		}
		outcomes = make([]train.Outcome, len(g))
		for k := range outcomes {
			outcomes[k] = train.Outcome{Status: status, Message: hung.msg, Epochs: obs.epochs[k]}
		}
		for k, w := range writers {
			if err := w.Finish(outcomes[k], runBackend(info), len(g)); err != nil {
				for _, w := range writers[k+1:] {
					w.Abort()
				}
				return nil, err
			}
		}
		return outcomes, hung
	}
	if obs.writeErr != nil {
		for _, w := range writers {
			w.Abort()
		}
		return nil, obs.writeErr
	}
	if err != nil {
		outcomes = make([]train.Outcome, len(g))
		for k := range outcomes {
			outcomes[k] = train.Outcome{Status: train.StatusFailed, Message: err.Error()}
		}
	}
	for k, w := range writers {
		if err := w.Finish(outcomes[k], runBackend(info), len(g)); err != nil {
			for _, w := range writers[k+1:] {
				w.Abort()
			}
			return nil, err
		}
	}
	return outcomes, nil
}

// observer fans a group's epochs out to each member's writer and to the progress display.
// Every report is a sign of progress for the watchdog; once the watchdog abandons
// the group, reports are dropped.
type observer struct {
	watch
	writers  []*writer.RunWriter
	prog     Progress
	writeErr error
	runIDs   []string
	epochs   []int // written per member
}

func (o *observer) Progress(epoch, batch, batches int) {
	if hook := stallHook.Load(); hook != nil {
		(*hook)(o.runIDs)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.abandoned {
		return
	}
	o.beat()
	o.prog.Batch(epoch, batch, batches)
}

func (o *observer) Epoch(k int, e *train.Epoch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.abandoned {
		return errAbandoned
	}
	o.beat()
	if err := o.writers[k].Epoch(e); err != nil {
		o.writeErr = err
		return err
	}
	o.epochs[k]++
	o.prog.Epoch(k, e)
	return nil
}

var errAbandoned = errors.New("abandoned by the watchdog")

// Groups splits runs into groups that train together: same structure (train.GroupKey,
// which includes the dataset), in sweep order, each of at most maxSize(run) runs, the
// runs of one structure spread evenly over as few groups as that allows.
func Groups(runs []sweep.Run, maxSize func(sweep.Run) int) [][]sweep.Run {
	var order []string
	byKey := map[string][]sweep.Run{}
	for _, r := range runs {
		k := train.GroupKey(r.Spec)
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	var groups [][]sweep.Run
	for _, k := range order {
		rs := byKey[k]
		size := max(1, maxSize(rs[0]))
		n := (len(rs) + size - 1) / size // groups needed
		size = (len(rs) + n - 1) / n     // balanced
		for len(rs) > 0 {
			m := min(size, len(rs))
			groups = append(groups, rs[:m])
			rs = rs[m:]
		}
	}
	return groups
}

// printRuns lists runs on out, one line each (text, or a JSON object with opts.JSON),
// and a one-line summary on log.
func printRuns(out, log io.Writer, name string, all, mine []sweep.Run, opts Options) error {
	fmt.Fprintf(log, "sweep %s: %d runs", name, len(all))
	if opts.Shards > 1 {
		fmt.Fprintf(log, ", shard %d/%d has %d", opts.Shard, opts.Shards, len(mine))
	}
	fmt.Fprintln(log)
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	for _, r := range mine {
		if opts.JSON {
			err := enc.Encode(struct {
				Index  int             `json:"index"`
				ID     string          `json:"run_id"`
				Seed   int64           `json:"seed"`
				Params map[string]any  `json:"params"`
				Config json.RawMessage `json:"config"`
			}{r.Index, r.ID, r.Seed, paramMap(r), r.Config})
			if err != nil {
				return err
			}
			continue
		}
		params, err := json.Marshal(paramMap(r))
		if err != nil {
			return err
		}
		fmt.Fprintf(bw, "%4d  %s  seed=%d  %s\n", r.Index, r.ID, r.Seed, params)
	}
	return bw.Flush()
}

func paramMap(r sweep.Run) map[string]any {
	m := map[string]any{}
	for _, p := range r.Params {
		m[p.Path] = p.Value
	}
	return m
}

// CheckLoss refuses a loss that the data cannot take: bce and bce_sum need every
// value in [0, 1] (the image sets are; the vector sets need not be).
func CheckLoss(s *spec.Spec, d train.Data) error {
	if s.Loss != "bce" && s.Loss != "bce_sum" {
		return nil
	}
	for _, part := range []struct {
		name string
		set  *data.Set
	}{{"training", d.Train}, {"validation", d.Validation}} {
		if part.set == nil {
			continue
		}
		if row, f, v, out := part.set.OutsideUnitInterval(); out {
			where := s.Dataset.Name
			if s.Dataset.Path != "" {
				where += " " + absPath(s.Dataset.Path)
			}
			return fmt.Errorf("loss %s needs every value of the data in [0, 1], but dataset %s has %v (%s row %d, feature %d): use loss mse or mse_sum",
				s.Loss, where, v, part.name, row, f)
		}
	}
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// dataCache loads each dataset configuration once per invocation.
type dataCache struct {
	dir  string
	full map[string]*data.Dataset // by source (name, path, column, where, synthetic)
	sets map[string]train.Data    // by the whole dataset section
}

func newDataCache(dir string) *dataCache {
	return &dataCache{dir: dir, full: map[string]*data.Dataset{}, sets: map[string]train.Data{}}
}

func (c *dataCache) get(ds spec.Dataset) (train.Data, error) {
	key, _ := json.Marshal(ds)
	if d, ok := c.sets[string(key)]; ok {
		return d, nil
	}
	src := Source(ds)
	srcKey, _ := json.Marshal(src)
	full, ok := c.full[string(srcKey)]
	if !ok {
		var err error
		if full, err = data.Open(src, c.dir); err != nil {
			return train.Data{}, err
		}
		c.full[string(srcKey)] = full
	}
	d, err := Prepare(full, ds)
	if err != nil {
		return train.Data{}, err
	}
	c.sets[string(key)] = d
	return d, nil
}

// Source is what data.Open needs of a spec's dataset section.
func Source(ds spec.Dataset) data.Source {
	return data.Source{
		Name:    ds.Name,
		Path:    ds.Path,
		Parquet: data.ParquetOptions{Column: ds.Column, Where: ds.Where},
		Synthetic: data.SyntheticConfig{Dim: ds.Synthetic.Dim, Features: ds.Synthetic.Features,
			Samples: ds.Synthetic.Samples, Active: ds.Synthetic.Active, Seed: ds.Synthetic.Seed},
	}
}

// Prepare applies a spec's split and caps to a loaded dataset.
func Prepare(full *data.Dataset, ds spec.Dataset) (train.Data, error) {
	var d train.Data
	switch ds.Validation {
	case "test":
		if full.Test == nil {
			return d, fmt.Errorf("dataset %s has no test set: use validation: split", ds.Name)
		}
		d.Train, d.Validation = full.Train, full.Test
	default:
		var err error
		if d.Train, d.Validation, err = data.Split(full.Train, ds.ValidationFraction, ds.SplitSeed); err != nil {
			return d, err
		}
	}
	if ds.MaxTrainSamples > 0 {
		d.Train = d.Train.Head(ds.MaxTrainSamples)
	}
	if ds.MaxValidationSamples > 0 {
		d.Validation = d.Validation.Head(ds.MaxValidationSamples)
	}
	return d, nil
}

// foreignRuns counts the runs recorded in a sweep folder that are not among runs.
func foreignRuns(statuses map[string]string, runs []sweep.Run) int {
	ids := make(map[string]bool, len(runs))
	for _, r := range runs {
		ids[r.ID] = true
	}
	n := 0
	for id := range statuses {
		if !ids[id] {
			n++
		}
	}
	return n
}

// runBackend is what the runs table records of the backend.
func runBackend(info backend.Info) writer.Backend {
	return writer.Backend{Name: info.Name, Detail: info.Detail, Device: info.Device.String(), Deterministic: info.Device.Deterministic}
}
