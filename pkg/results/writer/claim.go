package writer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sparselab/saerun/pkg/results"
)

// Claim is a run held by this process: an exclusive flock on claims/<run_id>.lock.
// Two runners on one sweep folder (with or without --shard) therefore never train the
// same run at once. The kernel drops the lock when the process dies, even by SIGKILL,
// so a crashed runner leaves no stale claim behind. (flock works on local file
// systems and NFSv4; on file systems without it, use --shard so that runners never
// share runs.)
type Claim struct {
	f *os.File
}

// ErrClaimed means another live process holds the run.
var ErrClaimed = errors.New("run is being trained by another process")

// Claim takes the run for this process, or returns ErrClaimed. It also removes
// temporary files a killed process left for this run.
func (s *Sweep) Claim(runID string) (*Claim, error) {
	dir := filepath.Join(s.Dir, "claims")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, runID+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrClaimed
		}
		return nil, fmt.Errorf("claim run %s: %w", runID, err)
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	fmt.Fprintf(f, "host=%s pid=%d\n", host, os.Getpid())
	for _, table := range results.Tables {
		stale, _ := filepath.Glob(filepath.Join(s.Dir, table, "."+runID+".parquet.*.tmp"))
		for _, p := range stale {
			os.Remove(p)
		}
	}
	return &Claim{f: f}, nil
}

// Release gives the run back.
func (c *Claim) Release() {
	if c != nil && c.f != nil {
		syscall.Flock(int(c.f.Fd()), syscall.LOCK_UN)
		c.f.Close()
		c.f = nil
	}
}

// Status returns the recorded status of one run ("" if it has no runs/ row).
func (s *Sweep) Status(runID string) (string, error) {
	path := s.path(results.RunsTable, runID)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// A finished run of a compacted sweep has its row in a part file.
		if parts, _ := filepath.Glob(filepath.Join(s.Dir, results.RunsTable, "part-*.parquet")); len(parts) > 0 {
			all, err := results.ReadStatuses(s.Dir)
			return all[runID], err
		}
		return "", nil
	}
	st, err := readRunStatus(path)
	return st.Status, err
}
