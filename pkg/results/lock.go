package results

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Lock is a lock on a whole sweep folder, an flock on claims/sweep.lock: runners hold
// it shared while they write (any number of them, also across --shard processes),
// compaction holds it exclusively, so that compaction never moves files a runner is
// writing. The kernel drops it when the process dies, even by SIGKILL. (Like the
// per-run claims, it needs a file system with flock: local ones and NFSv4.)
type Lock struct {
	f *os.File
}

// ErrBusy means another process holds the sweep folder: a runner, when compaction
// asked for it; compaction, when a runner asked without waiting.
var ErrBusy = errors.New("sweep folder is in use by another process")

func openLock(dir string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Join(dir, "claims"), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, "claims", "sweep.lock"), os.O_CREATE|os.O_RDWR, 0o644)
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// LockForWriting takes the sweep folder for a runner: shared with other runners. If
// no other process holds the folder it first finishes or undoes a compaction that a
// killed process left half done (see Compact). If a compaction is running, it says so
// on log and waits for it.
func LockForWriting(dir string, log io.Writer) (*Lock, error) {
	f, err := openLock(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		if err := recoverCompaction(dir); err != nil {
			f.Close()
			return nil, err
		}
		// Downgrading is not atomic: a compaction may slip in between, and then this
		// waits for it like any other runner.
		if err := flock(f, syscall.LOCK_SH); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		return &Lock{f: f}, nil
	}
	if err := flock(f, syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		return &Lock{f: f}, nil
	}
	if log != nil {
		fmt.Fprintf(log, "%s is being compacted by another process: waiting for it to finish\n", dir)
	}
	if err := flock(f, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f}, nil
}

// lockExclusive takes the sweep folder for compaction, or returns ErrBusy at once.
func lockExclusive(dir string) (*Lock, error) {
	f, err := openLock(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the folder back.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		flock(l.f, syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}
