package seednb

import (
	"fmt"
	"io"

	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// quiet prints one line per group and per finished run, not one per epoch: a
// notebook's output stays readable.
type quiet struct{ w io.Writer }

func (q quiet) StartGroup(i, n int, runs []sweep.Run, done, total int) {
	fmt.Fprintf(q.w, "group %d/%d: training %d runs together\n", i+1, n, len(runs))
}
func (quiet) Batch(int, int, int)     {}
func (quiet) Epoch(int, *train.Epoch) {}
func (q quiet) EndGroup(out []train.Outcome) {
	for k, o := range out {
		fmt.Fprintf(q.w, "  run %d of the group: %s after %d epochs\n", k+1, o.Status, o.Epochs)
		if o.Message != "" {
			fmt.Fprintf(q.w, "    %s\n", o.Message)
		}
	}
}
