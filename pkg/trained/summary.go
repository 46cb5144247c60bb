package trained

import (
	"fmt"
	"strings"
)

// Params is the model's number of parameters: every layer's kernel, bias and
// thresholds (an SAE's jumprelu or batchtopk threshold).
func (m *Model) Params() int {
	n := 0
	for _, l := range m.Layers {
		n += len(l.Kernel) + len(l.Bias) + len(l.Threshold)
	}
	return n
}

// Summary lists the model's layers as Keras' model.summary() does: each layer's name,
// shape, activation and parameter count, then the total, e.g.
//
//	autoencoder of run 02d302f88277, weights of epoch 20:
//	  encoder.0     64 -> 100   sigmoid        6500 params
//	  decoder.0    100 -> 64    sigmoid        6464 params
//	  total 12964 params
func (m *Model) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s of run %s, weights of epoch %d:\n", m.Kind, m.RunID, m.Epoch)
	for i, l := range m.Layers {
		act := m.Activations[i]
		if m.Kind == "sae" && i == 0 && m.Activation == "topk" {
			act = fmt.Sprintf("topk (k=%d)", m.K)
		}
		fmt.Fprintf(&b, "  %-10s %5d -> %-5d %-12s %9d params\n", l.Name, l.In, l.Out, act, len(l.Kernel)+len(l.Bias)+len(l.Threshold))
	}
	fmt.Fprintf(&b, "  total %d params\n", m.Params())
	return b.String()
}
