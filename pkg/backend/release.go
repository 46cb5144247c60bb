package backend

import "runtime/debug"

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
