package results

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	f    *os.File
	path string
}

// ErrBusy means another process holds the sweep folder: a runner, when compaction
// asked for it; compaction, when a runner asked without waiting.
var ErrBusy = errors.New("sweep folder is in use by another process")

// lockPath is the sweep folder's lock file.
func lockPath(dir string) string { return filepath.Join(dir, "claims", "sweep.lock") }

// LockFile opens path (creating it and its folder) and flocks it with how
// (syscall.LOCK_SH or LOCK_EX, with LOCK_NB or not). Lock files are removed by their
// last holder (UnlockFile), so a file locked after waiting may no longer be the one at
// path: then it tries again with the file now there. The writer's per-run claims use
// it too.
func LockFile(path string, how int) (*os.File, error) {
	for {
		if err := os.MkdirAll(filepath.Dir(path), 0o777); errors.Is(err, fs.ErrExist) {
			continue // created and removed again by others meanwhile
		} else if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the folder was removed as empty meanwhile
		}
		if err != nil {
			return nil, err
		}
		if err := flock(f, how); err != nil {
			f.Close()
			return nil, err
		}
		if isLockAt(f, path) {
			return f, nil
		}
		f.Close()
	}
}

// isLockAt reports whether f is the file at path (not one removed since it was opened).
func isLockAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// UnlockFile releases a lock taken by LockFile. When no other process holds the file,
// it is removed first (and its folder when that is left empty), so that a finished
// sweep leaves no lock files behind; a process that opened it meanwhile notices
// (LockFile) and uses a new one.
func UnlockFile(f *os.File, path string) {
	if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) == nil && isLockAt(f, path) {
		os.Remove(path)
		os.Remove(filepath.Dir(path))
	}
	flock(f, syscall.LOCK_UN)
	f.Close()
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
// killed process left half done (see Compact) and removes the temporary files killed
// writers left. If a compaction is running, it says so on log and waits for it.
func LockForWriting(dir string, log io.Writer) (*Lock, error) {
	path := lockPath(dir)
	for {
		f, err := LockFile(path, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if err := recoverCompaction(dir); err != nil {
				UnlockFile(f, path)
				return nil, err
			}
			removeStaleTemps(dir)
			removeStaleClaims(dir)
			// Downgrading is not atomic: a compaction may slip in between (and remove
			// the lock file when it ends), and then this waits for it like any other
			// runner.
			if err := flock(f, syscall.LOCK_SH); err != nil {
				f.Close()
				return nil, fmt.Errorf("lock %s: %w", dir, err)
			}
			if isLockAt(f, path) {
				return &Lock{f: f, path: path}, nil
			}
			f.Close()
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if f, err := LockFile(path, syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
			return &Lock{f: f, path: path}, nil
		}
		if log != nil {
			fmt.Fprintf(log, "%s is being compacted by another process: waiting for it to finish\n", dir)
		}
		f, err = LockFile(path, syscall.LOCK_SH)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		return &Lock{f: f, path: path}, nil
	}
}

// lockExclusive takes the sweep folder for compaction, or returns ErrBusy at once.
func lockExclusive(dir string) (*Lock, error) {
	path := lockPath(dir)
	f, err := LockFile(path, syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the folder back; the last process to release it removes the lock file
// (and claims/, when empty).
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		UnlockFile(l.f, l.path)
		l.f = nil
	}
}

// removeStaleClaims removes the per-run lock files (claims/<run_id>.lock) that no
// process holds: those a killed runner left. Called while this process holds the
// folder alone; a run whose lock file is left behind after it was recorded would
// otherwise keep it for good, since no runner claims a finished run again.
func removeStaleClaims(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "claims", "*.lock"))
	for _, p := range paths {
		if p == lockPath(dir) {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // held: a live claim
			continue
		}
		UnlockFile(f, p)
	}
}
