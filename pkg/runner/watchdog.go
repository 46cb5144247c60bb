package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomlx/compute"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/train"
)

// The watchdog ends a group that makes no progress. A training call can hang for good
// (a backend's worker pool deadlocked, as gomlx/compute v0.1.2's go backend did: 0% CPU,
// no error) and nothing inside the process can cancel it: the group's goroutine is left
// behind, its runs are recorded failed with a goroutine dump in the log (so --resume
// reruns them and the dump says where it stood), and the sweep goes on with a freshly
// opened backend. Progress is a finished call of the training program (an optimizer
// step, or on XLA a whole epoch) or an epoch's results, so the limit must exceed the
// longest call.
//
// After an interrupt (SIGINT/SIGTERM) the runner only waits for the current epoch; a
// group that makes no progress within StallGrace of the interrupt is stopped the same
// way, recorded interrupted, and the process ends instead of ignoring the signal.

// StallTimeoutEnv overrides the default stall limit: a Go duration ("45m", "90s"), or
// "off" (or 0) to disable the watchdog.
const StallTimeoutEnv = "SAERUN_STALL_TIMEOUT"

// DefaultStallTimeout is how long a group may go without progress before it is
// declared hung, when neither Options.StallTimeout nor $SAERUN_STALL_TIMEOUT says.
const DefaultStallTimeout = 30 * time.Minute

// StallGrace bounds the wait for progress once the sweep is interrupted.
const StallGrace = 2 * time.Minute

// stallTimeout resolves the stall limit: opts (negative: off), else the environment,
// else the default. 0 means no watchdog.
func stallTimeout(opt time.Duration) (time.Duration, error) {
	if opt != 0 {
		return max(opt, 0), nil
	}
	v := strings.TrimSpace(os.Getenv(StallTimeoutEnv))
	switch v {
	case "":
		return DefaultStallTimeout, nil
	case "off", "0":
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("$%s=%q: want a duration such as 30m or 90s, or off", StallTimeoutEnv, v)
	}
	return d, nil
}

// errHung marks a group the watchdog gave up on: its backend may be unusable.
type errHung struct{ msg string }

func (e *errHung) Error() string { return e.msg }

// stallHook, when set (by tests), is called by every progress report of a group: a
// hook that blocks simulates a training call that never returns.
var stallHook atomic.Pointer[func(runIDs []string)]

// watchedTrain runs trainer.Train under the watchdog. obs must report progress through
// beat. When the group stalls, it returns a *errHung (after writing the goroutine dump
// to log) while the training goroutine is still blocked; obs must then drop whatever
// that goroutine reports later (observer.abandon).
func watchedTrain(ctx context.Context, limit time.Duration, log io.Writer, obs *observer,
	run func() ([]train.Outcome, error)) ([]train.Outcome, error) {
	if limit <= 0 {
		return run()
	}
	type result struct {
		outcomes []train.Outcome
		err      error
	}
	done := make(chan result, 1)
	obs.beat()
	go func() {
		outcomes, err := run()
		obs.mu.Lock()
		obs.finished = true
		obs.mu.Unlock()
		done <- result{outcomes, err}
	}()
	tick := min(limit/4, time.Second)
	if tick <= 0 {
		tick = time.Millisecond
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var interruptedAt time.Time
	for {
		select {
		case r := <-done:
			return r.outcomes, r.err
		case now := <-ticker.C:
			since := now.Sub(obs.lastBeat())
			wait := limit
			if ctx.Err() != nil {
				if interruptedAt.IsZero() {
					interruptedAt = now
				}
				wait = min(limit, StallGrace)
				since = min(since, now.Sub(interruptedAt)) // the grace counts from the interrupt
			}
			if since < wait {
				continue
			}
			if !obs.abandon() { // the group finished as the limit passed
				r := <-done
				return r.outcomes, r.err
			}
			msg := fmt.Sprintf("no progress for %s: training hung and was abandoned (goroutine dump in the log; --resume reruns it)", since.Round(time.Second))
			if ctx.Err() != nil {
				msg = fmt.Sprintf("interrupted, then no progress for %s: training hung and was abandoned (goroutine dump in the log; --resume reruns it)", since.Round(time.Second))
			}
			fmt.Fprintf(log, "\nwatchdog: %s\n--- goroutines ---\n", msg)
			pprof.Lookup("goroutine").WriteTo(log, 2)
			fmt.Fprintln(log, "--- end of goroutines ---")
			return nil, &errHung{msg}
		}
	}
}

// watch is the observer's part of the watchdog: the time of the last progress, and
// whether the group was abandoned (then its reports are dropped).
type watch struct {
	last      atomic.Int64 // unix nanoseconds
	mu        sync.Mutex   // held while a report is written, and to abandon
	abandoned bool
	finished  bool
}

func (w *watch) beat()               { w.last.Store(time.Now().UnixNano()) }
func (w *watch) lastBeat() time.Time { return time.Unix(0, w.last.Load()) }

// abandon drops all later reports; it returns false when training already returned.
func (w *watch) abandon() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return false
	}
	w.abandoned = true
	return true
}

// reopen gives the sweep a new trainer after a hung group, on a newly opened backend
// (a backend passed in Options.BackendObj cannot be reopened and is reused).
func reopen(opts Options, be *compute.Backend, info backend.Info) (*train.Trainer, error) {
	if opts.BackendObj == nil {
		b, _, err := backend.Open(opts.Backend)
		if err != nil {
			return nil, fmt.Errorf("reopening backend %s after a hung group: %w", info, err)
		}
		*be = b
	}
	return train.NewTrainer(*be, train.Options{}), nil
}
