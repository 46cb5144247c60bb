package train

import "github.com/sparselab/saerun/pkg/results"

// What training hands over to be recorded is declared in package results, beside the
// rows it becomes, so that the results writer builds without training code; these
// aliases keep the training-side names.
type (
	Metric       = results.Metric
	UnitStats    = results.UnitStats
	Activations  = results.Activations
	Image        = results.Image
	Epoch        = results.Epoch
	Outcome      = results.Outcome
	LayerWeights = results.LayerWeights
)

// Status of a finished model (results.Status*).
const (
	StatusCompleted   = results.StatusCompleted
	StatusDiverged    = results.StatusDiverged
	StatusInterrupted = results.StatusInterrupted
	StatusFailed      = results.StatusFailed
)

// History is an Observer that keeps every epoch in memory: for notebooks and tests.
type History struct {
	Epochs [][]*Epoch // per model
}

// Progress implements Observer.
func (h *History) Progress(int, int, int) {}

// Epoch implements Observer.
func (h *History) Epoch(k int, e *Epoch) error {
	for len(h.Epochs) <= k {
		h.Epochs = append(h.Epochs, nil)
	}
	h.Epochs[k] = append(h.Epochs[k], e)
	return nil
}

// Series returns one metric over the epochs of model k.
func (h *History) Series(k int, split, name string) []float64 {
	var out []float64
	for _, e := range h.Epochs[k] {
		for _, m := range e.Metrics {
			if m.Split == split && m.Name == name {
				out = append(out, m.Value)
			}
		}
	}
	return out
}
