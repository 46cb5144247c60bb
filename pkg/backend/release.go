package backend

import (
	"os"
	"runtime/debug"
	"sync"
)

// ReleaseMemory hands the memory freed so far back to the operating system: the Go
// heap's (a collection, then debug.FreeOSMemory) and the C heap's (glibc's
// malloc_trim, which tuneMalloc otherwise keeps for reuse). A bounded-memory run calls
// it where a phase leaves garbage behind (an XLA compilation, an epoch's recording, a
// finished group), so that the next phase's peak does not stack on the last one's;
// the price is page faults the next time that memory is used. It takes a few
// milliseconds.
func ReleaseMemory() {
	debug.FreeOSMemory()
	trimMalloc()
}

// BoundMemory switches the C heap (glibc) to keeping as little as it can: blocks of
// 1 MiB and more (XLA's scratch memory, the chunks of a streamed set) are mapped
// afresh and unmapped when freed, free heap tops go back to the kernel, and two arenas
// serve all threads. XLA's CPU runtime allocates each call's scratch memory on
// whichever thread runs the call; with tuneMalloc's settings every arena keeps the
// freed areas for reuse, and a streamed SAE's resident memory grew by 64 MiB steps
// (bench/sae/README.md). The price is page faults on each call's scratch memory. It
// holds for the whole process from then on, opening the XLA backend included (which
// otherwise tunes the heap for speed).
//
// The Go heap, unless $GOGC says otherwise, collects when it has grown by a quarter
// (GOGC=25) instead of doubled: what a bounded run allocates in bursts (the recorded
// weights' Parquet pages, a checkpoint) is then collected before it doubles the heap.
func BoundMemory() {
	boundMu.Lock()
	defer boundMu.Unlock()
	if !bounded {
		bounded = true
		boundMalloc()
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(boundedGCPercent)
		}
	}
}

// boundedGCPercent is the Go collector's growth target in a bounded run.
const boundedGCPercent = 25

var (
	boundMu sync.Mutex
	bounded bool
)

// isBounded reports whether BoundMemory was called.
func isBounded() bool {
	boundMu.Lock()
	defer boundMu.Unlock()
	return bounded
}
