// Package runner executes a spec in two steps. A Plan (PlanFile, NewPlan) expands the
// sweep, keeps this process's shard, opens the backend, loads and checks the data,
// reads what the results folder already holds (skipping runs done, with --resume) and
// groups the rest, all without writing; so a spec, option or folder error is found
// before anything is written. Execute then trains each group and streams every run's
// results to Parquet. The command line (experiments/) and the notebooks both call
// RunFile or Run (plan, then execute), so a notebook sweep is the same code path as a
// batch one.
package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/checkpoint"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/results/writer"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// Options are the command-line settings that are not part of the spec (they do not
// change what a run computes, only where and how it is run). Stdout gets results (the
// dry-run listing), Log the logs and progress; they default to os.Stdout and os.Stderr.
//
// Brief is what a notebook shows: one line per run on Log when it ends (its status,
// numbers and time) and warnings; no lines while it trains, no sweep or size notes,
// no best-runs table, so that a cell's output stays its own. The XLA hint (the
// automatic backend fell back to pure Go) is kept. Quiet and Brief together are Brief.
type Options struct {
	Out       string   // results root; default "results"
	DataDir   string   // mnist / fashion-mnist folder; default data.DefaultDir()
	Backend   string   // auto, go, xla, xla:<plugin>; default $GOMLX_BACKEND or auto
	Resume    bool     // skip runs already done
	Shard     int      // this process's shard, 0 <= Shard < Shards
	Shards    int      // number of processes sharing the sweep; 0 or 1: all runs
	GroupSize int      // max runs trained together; 0: automatic (MaxGroupSize)
	DryRun    bool     // print the runs and stop
	NoCompact bool     // keep one file per run and table when the sweep completes
	Set       []string // key=value overrides of the spec (--set)
	Log       io.Writer
	Stdout    io.Writer
	JSON      bool     // with DryRun: one JSON object per run instead of text lines
	Progress  Progress // nil: chosen from Log (bars on a terminal, else lines)
	Quiet     bool     // only warnings and the summary on Log (no progress, no notes)
	Brief     bool     // one line per run on Log, when it ends, and warnings (see below)
	// LogEvery: on a Log that is not a terminal, a line about the runs training at most
	// this often; 0: DefaultLogEvery; negative: at every epoch.
	LogEvery   time.Duration
	BackendObj compute.Backend
	// StallTimeout: a group with no progress for this long is abandoned (watchdog.go);
	// 0: $SAERUN_STALL_TIMEOUT or DefaultStallTimeout; negative: never.
	StallTimeout time.Duration
	Tracker      Tracker // nil: none; told of every run's epochs and end (e.g. MLflow)
}

// Tracker is told of every run as it trains, after its results are written: each
// epoch, then how it ended (an experiment tracker such as MLflow, pkg/tracking). Its
// calls come from the training loop, so they must return at once (queue, never send).
// A run resumed from a checkpoint reports only the epochs after it.
type Tracker interface {
	Epoch(run sweep.Run, e *results.Epoch)
	End(run sweep.Run, o results.Outcome)
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

// RunFile loads the spec at path and runs it: PlanFile, then Execute (or, with
// DryRun, the listing of the plan's runs).
func RunFile(ctx context.Context, path string, opts Options) (Summary, error) {
	p, err := PlanFile(path, opts)
	if err != nil {
		return Summary{}, err
	}
	return p.run(ctx)
}

// Run runs a loaded spec: NewPlan, then Execute (or, with DryRun, the listing).
func Run(ctx context.Context, s *spec.Spec, src *spec.Source, opts Options) (Summary, error) {
	p, err := NewPlan(s, src, opts)
	if err != nil {
		return Summary{}, err
	}
	return p.run(ctx)
}

func (p *Plan) run(ctx context.Context) (Summary, error) {
	if p.Opts.DryRun {
		if err := p.PrintRuns(); err != nil {
			return Summary{}, err
		}
		return Summary{Runs: len(p.Mine)}, nil
	}
	return p.Execute(ctx)
}

// Plan is a spec made ready to run, with everything that can be checked before
// writing checked: its runs expanded and this process's shard taken; unless it is a
// dry run, also the backend opened, every run's data loaded and checked against its
// loss, the results folder's spec compared and the runs it already holds read (a
// folder with results needs --resume), and the runs left grouped to train together.
// Making a plan writes nothing; Execute trains and records it.
type Plan struct {
	Spec   *spec.Spec
	Source *spec.Source
	Opts   Options // with defaults filled in

	Runs []sweep.Run // every run of the sweep (a text dry run's lack their Spec)
	Mine []sweep.Run // this shard's runs

	// Not set for a dry run:
	Dir     string          // the results folder, Opts.Out/<name>
	Skipped int             // runs of Mine already done (with Resume)
	Pending []sweep.Run     // the runs of Mine to train
	Groups  [][]sweep.Run   // Pending, grouped (Groups)
	Backend compute.Backend // the backend the groups train on
	Info    backend.Info

	statuses map[string]string // the folder's runs when planned
	data     *specdata.Cache
	start    time.Time
	stall    time.Duration // the watchdog's limit (watchdog.go)
}

// PlanFile loads the spec at path (with Opts.Set applied) and plans it.
func PlanFile(path string, opts Options) (*Plan, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &UsageError{fmt.Errorf("%s: cannot read spec: %w", path, err)}
	}
	s, src, err := spec.ParseWithSets(path, raw, opts.Set)
	if err != nil {
		return nil, &UsageError{err}
	}
	return NewPlan(s, src, opts)
}

// NewPlan plans a loaded spec (see Plan). Errors in the spec, the options, the data
// or the results folder's state are *UsageError.
func NewPlan(s *spec.Spec, src *spec.Source, opts Options) (*Plan, error) {
	p := &Plan{Spec: s, Source: src, start: time.Now()}
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
	p.Opts = opts
	if opts.Shard < 0 || opts.Shard >= opts.Shards {
		return nil, &UsageError{fmt.Errorf("--shard %d/%d: the index must be in 0..%d", opts.Shard, opts.Shards, opts.Shards-1)}
	}
	expand := func() ([]sweep.Run, error) { return sweep.ExpandShard(s, src, opts.Shard, opts.Shards) }
	if opts.DryRun && !opts.JSON { // the text listing needs no resolved configuration
		expand = func() ([]sweep.Run, error) { return sweep.ExpandIDs(s, src) }
	}
	var err error
	if p.Runs, err = expand(); err != nil { // only the runs this process trains keep their Spec
		return nil, &UsageError{err}
	}
	p.Mine = sweep.Shard(p.Runs, opts.Shard, opts.Shards)
	if opts.DryRun {
		return p, nil
	}

	p.Backend, p.Info = opts.BackendObj, backend.Info{Name: "custom"}
	for _, r := range p.Mine {
		if r.Spec.Dataset.Buffer > 0 { // a streamed set: bounded memory, from before XLA starts its threads
			backend.BoundMemory()
		}
	}
	if p.Backend == nil {
		if p.Backend, p.Info, err = backend.Open(opts.Backend); err != nil {
			return nil, &UsageError{err}
		}
	} else {
		p.Info.Name, p.Info.Device = p.Backend.Name(), backend.DeviceOf(p.Backend)
	}
	p.data = specdata.NewCache(opts.DataDir)
	for _, r := range p.Mine {
		d, err := p.data.Get(r.Spec.Dataset)
		if err != nil {
			return nil, err
		}
		if err := CheckLoss(r.Spec, d); err != nil {
			return nil, &UsageError{err}
		}
		if err := train.CheckStream(r.Spec, d); err != nil {
			return nil, &UsageError{err}
		}
	}
	if err := checkMemory(src.Path, p.Mine, p.data, opts.GroupSize, p.Info.Device); err != nil {
		return nil, &UsageError{err}
	}
	if p.stall, err = stallTimeout(opts.StallTimeout); err != nil {
		return nil, &UsageError{err}
	}

	p.Dir = filepath.Join(opts.Out, s.Name)
	if err := writer.CheckSpec(opts.Out, s.Name, src.Data); err != nil {
		if errors.Is(err, writer.ErrSpecChanged) {
			return nil, &UsageError{err}
		}
		return nil, err
	}
	if p.statuses, err = results.ReadStatuses(p.Dir); err != nil {
		return nil, err
	}
	if p.Skipped, p.Pending, err = p.pending(p.statuses); err != nil {
		return nil, err
	}
	p.Groups = p.group(p.Pending)
	return p, nil
}

// pending splits this shard's runs by what the folder records: done (skipped with
// Resume) or still to train. A run recorded without Resume is a usage error.
func (p *Plan) pending(statuses map[string]string) (skipped int, pending []sweep.Run, err error) {
	for _, r := range p.Mine {
		st, seen := statuses[r.ID]
		switch {
		case seen && !p.Opts.Resume:
			return 0, nil, &UsageError{fmt.Errorf("%s already holds results for run %s (status %s): add --resume to continue this sweep, or use another name or --out",
				p.Dir, r.ID, st)}
		case seen && results.Done(st):
			skipped++
		default:
			pending = append(pending, r)
		}
	}
	return skipped, pending, nil
}

// group groups runs to train together, each group as large as Opts.GroupSize or,
// by default, as its runs' size and the device allow (MaxGroupSize).
func (p *Plan) group(runs []sweep.Run) [][]sweep.Run {
	return Groups(runs, func(r sweep.Run) int {
		if p.Opts.GroupSize > 0 {
			return p.Opts.GroupSize
		}
		d, _ := p.data.Get(r.Spec.Dataset)
		return MaxGroupSize(r.Spec, d.Train.Dim, p.Info.Device)
	})
}

// PrintRuns lists the plan's runs of this shard on Opts.Stdout, one line each (text,
// or a JSON object with Opts.JSON), and a one-line summary on Opts.Log.
func (p *Plan) PrintRuns() error {
	return printRuns(p.Opts.Stdout, p.Opts.Log, p.Spec.Name, p.Runs, p.Mine, p.Opts)
}

// Execute trains the plan's groups and records every run, then compacts the folder
// when every run of the sweep is done (unless Opts.NoCompact). It takes the folder
// for writing first and reads its runs again: a run another runner finished since
// planning is skipped.
func (p *Plan) Execute(ctx context.Context) (Summary, error) {
	if p.Opts.DryRun {
		return Summary{}, &UsageError{errors.New("a dry-run plan is not executed: list it with PrintRuns")}
	}
	opts := p.Opts
	sw, err := writer.OpenSweep(opts.Out, p.Spec.Name, p.Source.Data)
	if err != nil {
		if errors.Is(err, writer.ErrSpecChanged) {
			return Summary{}, &UsageError{err}
		}
		return Summary{}, err
	}
	sum := Summary{Dir: sw.Dir, Runs: len(p.Mine), Backend: p.Info}
	lock, err := results.LockForWriting(sw.Dir, opts.Log)
	if err != nil {
		return sum, err
	}
	defer lock.Release()
	if opts.Resume {
		// Finished runs whose files are damaged are run again.
		if err := sw.DiscardDamaged(opts.Log); err != nil {
			return sum, err
		}
	}
	statuses, err := sw.Statuses()
	if err != nil {
		return sum, err
	}
	skipped, pending, groups := p.Skipped, p.Pending, p.Groups
	if !maps.Equal(statuses, p.statuses) { // another runner recorded runs since planning
		if skipped, pending, err = p.pending(statuses); err != nil {
			return sum, err
		}
		groups = p.group(pending)
	}
	sum.Skipped = skipped
	info := opts.Log // what --quiet and --brief leave out
	if opts.Quiet || opts.Brief {
		info = io.Discard
	}
	_, found := backend.FindPlugin()
	if hint := backendHint(opts.Backend, p.Info.Name, found); hint != "" {
		if opts.Brief {
			fmt.Fprintln(opts.Log, hint)
		} else {
			fmt.Fprintln(info, hint)
		}
	}
	fmt.Fprintf(info, "sweep %s: %d runs (%d in this shard, %d already done) on backend %s -> %s\n",
		p.Spec.Name, len(p.Runs), len(p.Mine), sum.Skipped, p.Info, sw.Dir)
	if n := foreignRuns(statuses, p.Runs); n > 0 {
		fmt.Fprintf(info, "note: %s holds %d run(s) that are none of this spec's runs (written before run ids hashed the canonical form %s?); they are kept and not counted as done\n",
			sw.Dir, n, spec.CanonicalVersion)
	}

	prog := opts.Progress
	if prog == nil && opts.Brief {
		prog = &lineProgress{w: opts.Log, brief: true}
	} else if prog == nil {
		prog = NewProgress(opts.Log, opts.Quiet, opts.LogEvery)
	}
	if sp, ok := prog.(sweepProgress); ok {
		sp.StartSweep(pending)
		defer sp.EndSweep()
	}
	var finished []Finished
	trainer := train.NewTrainer(p.Backend, train.Options{}) // compiles each kind of group once
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
		d, _ := p.data.Get(g[0].Spec.Dataset)
		prog.StartGroup(gi, len(groups), g, done, len(pending))
		outcomes, err := trainGroup(ctx, trainer, p.Info, sw, g, d, prog, p.stall, opts.Log, opts.Resume, opts.Tracker)
		prog.EndGroup(outcomes)
		for _, c := range claims {
			c.Release()
		}
		var hung *errHung
		if errors.As(err, &hung) {
			// The hung call still holds the trainer and perhaps the backend (a deadlocked
			// worker pool): the next groups get fresh ones.
			if trainer, err = reopen(opts, &p.Backend, p.Info); err != nil {
				return sum, err
			}
		} else if err != nil {
			return sum, err
		}
		for k, o := range outcomes {
			finished = append(finished, Finished{Run: g[k], Outcome: o})
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
	// The last group's compiled programs and device buffers are not needed any more:
	// free them, and hand the memory back, before compaction allocates its own.
	trainer.Close()
	backend.ReleaseMemory()
	if sp, ok := prog.(sweepProgress); ok {
		sp.EndSweep()
	}
	if !opts.Brief {
		PrintBest(opts.Log, finished, 5)
	}
	if ctx.Err() == nil && !opts.NoCompact {
		if err := compactIfDone(sw.Dir, p.Runs, opts.Log, info); err != nil {
			return sum, err
		}
	}
	sum.Wall = time.Since(p.start)
	printSize(info, sw.Dir, len(p.Runs))
	return sum, nil
}

// compactIfDone compacts the sweep's tables (results.Compact) when every run of the
// sweep, in every shard, is done. When another runner still writes the folder, it is
// left to that runner, which compacts when it ends. A failed compaction is a warning:
// it leaves the per-run files as they were.
func compactIfDone(dir string, runs []sweep.Run, log, info io.Writer) error {
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
		fmt.Fprintf(info, "not compacting %s: another runner is writing it and compacts it when it ends\n", dir)
		return nil
	}
	if err != nil {
		// The runs are recorded and compaction removed what it wrote: the sweep
		// succeeded, in the per-run layout. A damaged file is named in err.
		fmt.Fprintf(log, "warning: %v (the per-run files are kept as they were; --resume checks the finished runs' files and runs damaged ones again)\n", err)
		return nil
	}
	for _, t := range tables {
		if t.RunsMerged > 0 {
			fmt.Fprintf(info, "compacted %s/%s: %d files -> %d (%d rows)\n", dir, t.Table, t.FilesBefore, t.FilesAfter, t.Rows)
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

// trainGroup trains one group and records each member's results. With resume, each
// run continues from its last good checkpoint (loadResume); runs that resume at
// different points (or not at all) train in separate groups, one after another.
// A hung part (*errHung) leaves the parts after it untrained: they are recorded failed
// and --resume runs them.
func trainGroup(ctx context.Context, trainer *train.Trainer, info backend.Info, sw *writer.Sweep, g []sweep.Run, d train.Data, prog Progress,
	stall time.Duration, log io.Writer, resume bool, tracker Tracker) ([]train.Outcome, error) {
	cands := make([][]*resumePoint, len(g))
	for i, r := range g {
		if resume && r.Spec.Record.Checkpoints.Every > 0 {
			cands[i] = loadResume(sw.Dir, r, log)
		}
	}
	points := resumePoints(cands)
	var order [][2]int // resume points (epoch, steps into the next), in order of first appearance
	byEpoch := map[[2]int][]int{}
	for i, r := range g {
		var e [2]int
		if p := points[i]; p != nil {
			e = p.at()
			if e[1] == 0 {
				fmt.Fprintf(log, "run %s: resuming after epoch %d from %s\n", r.ID, e[0], ckptPath(sw.Dir, r.ID))
			} else {
				fmt.Fprintf(log, "run %s: resuming inside epoch %d, after %d of its steps, from %s\n", r.ID, e[0]+1, e[1], ckptPath(sw.Dir, r.ID))
			}
		}
		if _, ok := byEpoch[e]; !ok {
			order = append(order, e)
		}
		byEpoch[e] = append(byEpoch[e], i)
	}
	outcomes := make([]train.Outcome, len(g))
	var hung *errHung
	for _, e := range order {
		idx := byEpoch[e]
		if hung != nil {
			for _, i := range idx {
				outcomes[i] = train.Outcome{Status: train.StatusFailed, Message: "not trained: " + hung.msg}
				sw.RecordFailed(g[i], outcomes[i].Message, runBackend(info))
				if tracker != nil {
					tracker.End(g[i], outcomes[i])
				}
			}
			continue
		}
		sub, subPoints := make([]sweep.Run, len(idx)), make([]*resumePoint, len(idx))
		for j, i := range idx {
			sub[j], subPoints[j] = g[i], points[i]
		}
		out, err := trainMembers(ctx, trainer, info, sw, sub, subPoints, idx, d, prog, stall, log, tracker)
		if err != nil && !errors.As(err, &hung) {
			return nil, err
		}
		for j, i := range idx {
			outcomes[i] = out[j]
		}
	}
	if hung != nil {
		return outcomes, hung
	}
	return outcomes, nil
}

// trainMembers trains runs g (resuming from points, where not nil) as one group and
// records each member's results; index[k] is member k's place in the group prog
// shows. A failure to build or train the group marks its runs failed (recorded, with
// the message) and the sweep goes on; a failure to write results stops the sweep.
//
// A group that makes no progress for stall (watchdog.go) is abandoned: its runs are
// recorded failed (interrupted after an interrupt) and the error is a *errHung.
func trainMembers(ctx context.Context, trainer *train.Trainer, info backend.Info, sw *writer.Sweep, g []sweep.Run, points []*resumePoint, index []int, d train.Data, prog Progress,
	stall time.Duration, log io.Writer, tracker Tracker) (outcomes []train.Outcome, err error) {
	defer func() { // the tracker hears how each run ended, as recorded (runs after the defer below)
		if tracker == nil {
			return
		}
		for k, r := range g {
			switch {
			case k < len(outcomes):
				tracker.End(r, outcomes[k])
			case err != nil:
				tracker.End(r, train.Outcome{Status: train.StatusFailed, Message: "writing results failed: " + err.Error()})
			}
		}
	}()
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
	journals := make([]*journal, len(g))
	defer func() {
		for _, j := range journals {
			j.close()
		}
	}()
	members := make([]train.Member, len(g))
	abort := func(err error) ([]train.Outcome, error) {
		for _, w := range writers {
			if w != nil {
				w.Abort()
			}
		}
		return nil, err
	}
	for k, r := range g {
		w, err := sw.StartRun(r)
		if err != nil {
			return abort(err)
		}
		writers[k] = w
		members[k] = train.Member{RunID: r.ID, Spec: r.Spec}
		var done int64
		if p := points[k]; p != nil {
			members[k].Resume, done = p.state, p.state.Journal
			for _, e := range p.epochs { // the epochs recorded before, as they were
				if err := w.Epoch(e); err != nil {
					return abort(err)
				}
			}
		}
		if points[k] == nil { // a fresh start: checkpoints left from another attempt are not its own
			removeCheckpoints(sw.Dir, r.ID)
		}
		if r.Spec.Record.Checkpoints.Every > 0 {
			if journals[k], err = openJournal(journalPath(sw.Dir, r.ID), done); err != nil {
				return abort(err)
			}
		}
	}
	obs := &observer{writers: writers, journals: journals, runs: g, dir: sw.Dir, index: index, prog: prog, tracker: tracker, epochs: make([]int, len(g))}
	for k, r := range g {
		obs.runIDs = append(obs.runIDs, r.ID)
		if points[k] != nil {
			obs.epochs[k] = points[k].state.Epoch
		}
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
		return abort(obs.writeErr)
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
		if results.Done(outcomes[k].Status) && !g[k].Spec.Record.Checkpoints.Keep {
			journals[k].close()
			journals[k] = nil
			removeCheckpoints(sw.Dir, g[k].ID)
		}
	}
	return outcomes, nil
}

// observer fans a group's epochs out to each member's writer, journal and to the
// progress display, and writes the members' checkpoints. Every report is a sign of
// progress for the watchdog; once the watchdog abandons the group, reports are dropped.
type observer struct {
	watch
	writers  []*writer.RunWriter
	journals []*journal // nil entries without checkpoints
	runs     []sweep.Run
	dir      string
	index    []int // member -> place in the group prog shows
	prog     Progress
	tracker  Tracker
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
	if j := o.journals[k]; j != nil {
		if err := j.append(e); err != nil {
			o.writeErr = err
			return err
		}
	}
	o.epochs[k]++
	if o.tracker != nil {
		o.tracker.Epoch(o.runs[k], e)
	}
	o.prog.Epoch(o.index[k], e)
	return nil
}

// Checkpoint writes member k's checkpoint, which covers the journal as written so far.
func (o *observer) Checkpoint(k int, st *checkpoint.State) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.abandoned {
		return errAbandoned
	}
	o.beat()
	j := o.journals[k]
	if j == nil {
		return nil
	}
	st.ConfigHash, st.Journal = checkpoint.ConfigHash(o.runs[k].Config), j.size
	err := checkpoint.Write(ckptPath(o.dir, o.runs[k].ID), st)
	if err != nil {
		o.writeErr = err
	}
	return err
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
