package results_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

// TestACompactionOnAFullTmpfsLeavesTheDiskAsItWas runs out of disk for real: the sweep
// is copied into a tmpfs that is then shrunk to 8 kB more than the copy takes. It needs
// root (to mount) and half a minute, so it runs only with SAERUN_TEST_TMPFS=1:
//
//	sudo SAERUN_TEST_TMPFS=1 go test -v -run TestACompactionOnAFullTmpfs ./pkg/results
func TestACompactionOnAFullTmpfsLeavesTheDiskAsItWas(t *testing.T) {
	if os.Getenv("SAERUN_TEST_TMPFS") != "1" {
		t.Skip("set SAERUN_TEST_TMPFS=1 (as root) to run out of disk on a tmpfs")
	}
	w, src := newSweep(t)
	for i := range 60 {
		fakeRun(t, w, i, results.StatusCompleted, 40)
	}
	before := read(t, src)
	var total int64
	for _, n := range allFiles(t, src) {
		total += n
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d", 2*total)); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(mnt, 0)
	dir := filepath.Join(mnt, "s")
	copyDir(t, src, dir)
	used := func() uint64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return (st.Blocks - st.Bfree) * uint64(st.Bsize)
	}
	usedBefore := used()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", usedBefore+8<<10)); err != nil {
		t.Fatal(err)
	}
	_, err := results.Compact(dir, results.CompactOptions{})
	usedAfter := used()
	t.Logf("sweep of %d bytes in files; compaction: %v; used before %d bytes, after %d", total, err, usedBefore, usedAfter)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("compaction returned %v, want ENOSPC", err)
	}
	if usedAfter != usedBefore {
		t.Errorf("the failed compaction left %d bytes behind", int64(usedAfter)-int64(usedBefore))
	}
	if bad := hiddenOrCompact(allFiles(t, dir)); len(bad) != 0 {
		t.Errorf("left %v", bad)
	}
	if got := read(t, dir); !reflect.DeepEqual(got, before) {
		t.Error("the reader returns other rows than before")
	}
}
