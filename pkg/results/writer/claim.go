package writer

import (
	"errors"
	"fmt"
	"io"
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
	f    *os.File
	path string
}

// ErrClaimed means another live process holds the run.
var ErrClaimed = errors.New("run is being trained by another process")

// Claim takes the run for this process, or returns ErrClaimed. It also removes
// temporary files a killed process left for this run.
func (s *Sweep) Claim(runID string) (*Claim, error) {
	path := filepath.Join(s.Dir, "claims", runID+".lock")
	f, err := results.LockFile(path, syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
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
	return &Claim{f: f, path: path}, nil
}

// Release gives the run back and removes its lock file (claims/ too when empty).
func (c *Claim) Release() {
	if c != nil && c.f != nil {
		results.UnlockFile(c.f, c.path)
		c.f = nil
	}
}

// Status returns the recorded status of one run ("" if it has no runs/ row, or one
// that cannot be read).
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
	if err != nil {
		// A damaged runs/ file records nothing (as for results.ReadStatuses): the run
		// is run again, not passed over as if another runner held it.
		return "", nil
	}
	return st.Status, nil
}

// DiscardDamaged checks the files of the sweep's finished runs (results.Verify) and
// discards each run with a damaged file, so that --resume runs it again instead of
// counting it done. Each damaged file is moved aside into damaged/<table>/ (not a
// table folder: readers skip it), never deleted, and named on log with where it went;
// the run's other files are removed (Discard). A damaged compacted part holds many
// runs' rows and cannot be replaced run by run: that is an error naming it.
func (s *Sweep) DiscardDamaged(log io.Writer) error {
	damage, err := results.Verify(s.Dir)
	if err != nil {
		return err
	}
	for _, d := range damage {
		if d.RunID == "" {
			return fmt.Errorf("%s is damaged (%s): it holds the rows of many finished runs, which --resume cannot run again one by one; restore it from a copy, or move %s aside and run the sweep again",
				d.Path, d.Problem, s.Dir)
		}
	}
	discarded := map[string]bool{}
	for _, d := range damage {
		aside, err := moveAside(s.Dir, d.Path)
		if err != nil {
			return err
		}
		where := ""
		if aside != "" {
			where = " (moved to " + aside + ")"
		}
		fmt.Fprintf(log, "damaged: %s: %s%s; run %s will be run again\n", d.Path, d.Problem, where, d.RunID)
		if discarded[d.RunID] {
			continue
		}
		discarded[d.RunID] = true
		if err := s.Discard(d.RunID); err != nil {
			return err
		}
	}
	return nil
}

// moveAside moves a file of a table folder to damaged/<table>/ (a name not yet taken
// there), and returns where; "" when there is no file (a missing one).
func moveAside(dir, path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	dst := filepath.Join(dir, "damaged", filepath.Base(filepath.Dir(path)))
	if err := os.MkdirAll(dst, 0o777); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	base := filepath.Base(path)
	for i := 0; ; i++ {
		to := filepath.Join(dst, base)
		if i > 0 {
			to = filepath.Join(dst, fmt.Sprintf("%s.%d", base, i))
		}
		if _, err := os.Lstat(to); err == nil {
			continue
		}
		if err := os.Rename(path, to); err != nil {
			return "", fmt.Errorf("move %s aside: %w", path, err)
		}
		return to, nil
	}
}
