//go:build linux && cgo

package backend

/*
#include <malloc.h>

// Keep the C heap's large blocks for reuse instead of handing them back to the kernel
// after each use. Returns 1 when every setting was accepted (glibc), 0 otherwise.
static int saerun_tune_malloc(void) {
#if defined(__GLIBC__)
	int ok = 1;
	ok &= mallopt(M_MMAP_MAX, 0) == 1;              // large blocks from the heap, not fresh mmaps
	ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;  // do not return the heap's top after each free
	ok &= mallopt(M_TOP_PAD, 128 << 20) == 1;       // nor delete a thread's whole heap when it empties
	return ok;
#else
	return 0;
#endif
}

// Hand the C heap's free pages back to the kernel (all arenas). Returns 1 if some
// memory was released.
static int saerun_trim_malloc(void) {
#if defined(__GLIBC__)
	return malloc_trim(0);
#else
	return 0;
#endif
}

// Bounded memory: large blocks (from 1 MiB) are fresh mmaps, unmapped when freed;
// the heaps' free tops go back to the kernel; at most two arenas. Returns 1 when every
// setting was accepted.
static int saerun_bound_malloc(void) {
#if defined(__GLIBC__)
	int ok = 1;
	ok &= mallopt(M_ARENA_MAX, 2) == 1;
	ok &= mallopt(M_MMAP_MAX, 1 << 20) == 1;
	ok &= mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1;
	ok &= mallopt(M_TRIM_THRESHOLD, 8 << 20) == 1;
	ok &= mallopt(M_TOP_PAD, 0) == 1;
	return ok;
#else
	return 0;
#endif
}
*/
import "C"

func tuneMalloc() bool { return C.saerun_tune_malloc() == 1 }

func trimMalloc() { C.saerun_trim_malloc() }

func boundMalloc() bool { return C.saerun_bound_malloc() == 1 }
