package results

import (
	"os"
	"slices"
	"strings"
	"syscall"
)

// StopAt makes the compactions of this process call stop at their n-th step (from 1)
// among the steps of the given tables, and tells whether an atomic exchange is used;
// tests stop the process there, as a kill would.
func StopAt(n int, tables []string, atomicExchange bool, stop func(step string)) {
	i := 0
	step = func(s string) {
		if !slices.Contains(tables, s[:strings.Index(s, ":")]) {
			return
		}
		if i++; i == n {
			stop(s)
		}
	}
	if !atomicExchange {
		exchange = nil
	}
}

// LockExclusive is the lock compaction takes.
var LockExclusive = lockExclusive

// FailPartWritesAfter makes compaction's part files run out of space (ENOSPC) once n
// bytes have been written to them in all, as on a full disk; restore undoes it.
func FailPartWritesAfter(n int64) (restore func()) {
	old := createPart
	var written int64
	createPart = func(name string) (partFile, error) {
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		return &fullDisk{File: f, written: &written, limit: n}, nil
	}
	return func() { createPart = old }
}

type fullDisk struct {
	*os.File
	written *int64
	limit   int64
}

func (f *fullDisk) Write(p []byte) (int, error) {
	room := max(0, f.limit-*f.written)
	if int64(len(p)) <= room {
		*f.written += int64(len(p))
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:room])
	*f.written += int64(n)
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}
