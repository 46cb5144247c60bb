package results

import (
	"slices"
	"strings"
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
