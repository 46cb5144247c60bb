package train

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/sparselab/saerun/pkg/optim"
	"github.com/sparselab/saerun/pkg/sparsity"
)

// evalBatch is how many validation rows one iteration of the validation loop reads;
// the last iteration's rows past the end of the set are masked out.
const evalBatch = 512

// The validation program runs every model over the whole validation set (a VAE
// decodes its mean code), looping over batches of evalBatch rows on the device (in
// one call on XLA; the go backend runs a call per batch), and returns only sums: per model the reconstruction loss, a VAE's KL, the
// MAPE terms, each weight-decay penalty, and per observed layer and unit the sum,
// sum of |h|, count of samples where the unit is active, and maximum.

// evalSums are the validation program's outputs on the host.
type evalSums struct {
	sums   map[string][]float64 // [K] sums by name: recon, the model's terms, MAPE's
	pens   map[int][]float64    // per regularizer computed in the graph, [K]
	layers []layerSums          // per observed layer
}

// layerSums are one observed layer's per-unit sums over the validation set, [K×U].
type layerSums struct {
	sum, sumAbs, active []float64
	max                 []float32
}

// mapeNames are MAPE's sums: Σ APE, the count of its pixels, Σ|x̂ − x| and Σ|x|
// (MAPE the seeds' way).
var mapeNames = []string{"ape", "ape_count", "abs_error", "abs_input"}

// evalAccumulators lists the validation program's sums by name, with their initial
// values (zeros, and -∞ for maxima); the program takes and returns them in this order.
func (gr *group) evalAccumulators() (names []string, init []*tensors.Tensor) {
	K := len(gr.members)
	add := func(name string, t *tensors.Tensor) { names, init = append(names, name), append(init, t) }
	add("recon", tensors.FromShape(shapes.Make(dtypes.Float64, K)))
	for _, name := range gr.model.evalNames() {
		add(name, tensors.FromShape(shapes.Make(dtypes.Float64, K)))
	}
	if gr.mape() {
		for _, name := range mapeNames {
			add(name, tensors.FromShape(shapes.Make(dtypes.Float64, K)))
		}
	}
	for _, li := range gr.observed {
		U, name := gr.arch.Layers[li].Out, gr.arch.Layers[li].Name
		add(name+"/sum", tensors.FromShape(shapes.Make(dtypes.Float64, K, U)))
		add(name+"/sum_abs", tensors.FromShape(shapes.Make(dtypes.Float64, K, U)))
		add(name+"/active", tensors.FromShape(shapes.Make(dtypes.Float64, K, U)))
		lowest := make([]float32, K*U)
		for i := range lowest {
			lowest[i] = float32(math.Inf(-1))
		}
		add(name+"/max", tensors.FromFlatDataAndDimensions(lowest, K, U))
	}
	for i, p := range gr.pens {
		if p.inGraph() {
			add(fmt.Sprintf("penalty/%d", i), tensors.FromShape(shapes.Make(dtypes.Float64, K)))
		}
	}
	return names, init
}

// evalGraph: in = x [N, D], hp [K, P], start (the first batch of this call), then the
// accumulators of evalAccumulators. It returns the accumulators after batches
// [start, start+evalPerCall); each in-graph penalty [K] is set, not summed. Every
// reduction is inside the loop body: go-xla v0.4.1 builds one reduction function per
// kind and dtype and refuses to use it in another function than the one that built it
// ("reductionFn is not a StableHLO closure of main").
func (gr *group) evalGraph(_ *gmodel.Scope, in []*Node) []*Node {
	x, h, start, acc := in[0], hyper{in[1]}, in[2], in[3:]
	g := x.Graph()
	N := x.Shape().Dimensions[0]
	E := min(evalBatch, N)
	w := gr.params.Values(g)
	names, _ := gr.evalAccumulators()
	extra := optim.Values(g, gr.model.state())
	ne := len(extra)

	body := func(j *Node, inv, state []*Node) []*Node {
		g := j.Graph()
		x, h, extra, w := inv[0], hyper{inv[1]}, inv[2:2+ne], gr.params.WeightsFrom(inv[2+ne:])
		row := Add(MulScalar(j, E), Iota(g, shapes.Make(dtypes.Int32, E), 0)) // [E]
		valid := LessThan(row, Const(g, int32(N)))
		mask := ConvertDType(valid, dtypes.Float32)
		batch := gr.broadcast(Gather(x, ExpandAxes(MinScalar(row, N-1), -1))) // [K, E, D]
		out := gr.model.forward(w, h, extra, batch)
		next := make([]*Node, 0, len(state))
		rows := sparsity.Rows{Mask: mask}
		// take adds x [K, E, ...] over the valid rows to the next float64 accumulator.
		take := func(x *Node) {
			next = append(next, Add(state[len(next)], ConvertDType(rows.Sum(x), dtypes.Float64)))
		}
		take(sparsity.Reconstruction(gr.spec.Loss, out.Recon, batch))
		for _, t := range gr.model.evalTerms(w, out, batch) {
			take(t.x)
		}
		if gr.mape() {
			s, c := sparsity.APE(out.Recon, batch)
			take(s)
			take(c)
			take(ReduceSum(Abs(Sub(out.Recon, batch)), -1))
			take(ReduceSum(Abs(batch), -1))
		}
		for _, li := range gr.observed {
			a := out.Acts[li]
			take(a)
			take(Abs(a))
			take(ConvertDType(gr.model.firing(gr.arch.Layers[li])(a), dtypes.Float32))
			valid3 := BroadcastToDims(Reshape(valid, 1, E, 1), a.Shape().Dimensions...)
			rowMax := maxOverRows(Where(valid3, a, Infinity(g, dtypes.Float32, -1)))
			next = append(next, Max(state[len(next)], rowMax))
		}
		for i, p := range gr.pens {
			if p.inGraph() {
				v := p.train(penaltyGraph{r: gr.spec.Regularizers[i], w: w, arch: gr.arch, weight: h.weight(i), target: h.target(i)})
				next = append(next, ConvertDType(v, dtypes.Float64))
			}
		}
		return next
	}
	final := repeat(start, gr.evalPerCall, append(append([]*Node{x, h.hp}, extra...), w.List()...), acc, body)

	var outs named
	for i, n := range final {
		outs.add(names[i], n)
	}
	gr.evalLayout = outs.names
	return outs.nodes
}

// evaluate runs the validation program over the whole validation set (one call on
// XLA, one per batch on the go backend) and copies its sums to the host.
func (gr *group) evaluate(epoch int) (*evalSums, error) {
	_, acc := gr.evalAccumulators()
	batches := (gr.data.Validation.N + evalBatch - 1) / evalBatch
	var t map[string]*tensors.Tensor
	for start := 0; start < batches; start += gr.evalPerCall {
		args := append([]any{gr.xVal, gr.hp, int32(start)}, anys(acc)...)
		outs, err := gr.evalExec.Exec(args...)
		freeAll(acc...)
		if err != nil {
			return nil, fmt.Errorf("validation (epoch %d): %w", epoch, err)
		}
		acc = outs
		if start+gr.evalPerCall >= batches {
			t = byName(gr.evalLayout, outs)
		}
	}
	get := func(name string) []float64 { return copyAndFree[float64](t[name]) }
	e := &evalSums{sums: map[string][]float64{"recon": get("recon")}, pens: map[int][]float64{}}
	names := gr.model.evalNames()
	if gr.mape() {
		names = append(names, mapeNames...)
	}
	for _, name := range names {
		e.sums[name] = get(name)
	}
	for i, p := range gr.pens {
		if p.inGraph() {
			e.pens[i] = get(fmt.Sprintf("penalty/%d", i))
		}
	}
	for _, li := range gr.observed {
		name := gr.arch.Layers[li].Name
		e.layers = append(e.layers, layerSums{sum: get(name + "/sum"), sumAbs: get(name + "/sum_abs"),
			active: get(name + "/active"), max: copyAndFree[float32](t[name+"/max"])})
	}
	return e, nil
}

// validationMetrics turns model k's validation sums into its metrics, per-unit
// statistics (on recorded epochs) and each observed layer's statistics: the loss,
// the reconstruction, the model's terms and metrics, each regularizer's penalty, MAPE.
func (gr *group) validationMetrics(k int, e *evalSums, recordUnits bool) ([]Metric, []UnitStats) {
	m := gr.members[k]
	N := float64(gr.data.Validation.N)
	stats := make([]*layerStats, len(gr.observed))
	for o, li := range gr.observed {
		U := gr.arch.Layers[li].Out
		l := e.layers[o]
		stats[o] = &layerStats{n: gr.data.Validation.N, sum: l.sum[k*U : (k+1)*U], sumAbs: l.sumAbs[k*U : (k+1)*U],
			active: l.active[k*U : (k+1)*U], max: l.max[k*U : (k+1)*U]}
	}
	v := valSums{n: N, sum: func(name string) []float64 { return e.sums[name] },
		layer: func(name string) *layerStats { return stats[gr.observedIndex(name)] }}
	recLoss := e.sums["recon"][k] / N
	terms, info := gr.model.validation(k, v)
	total := recLoss
	for _, t := range terms {
		total += t.Value
	}
	metrics := append(append([]Metric{{Split: "validation", Name: "loss", Value: total}, {Split: "validation", Name: "reconstruction", Value: recLoss}}, terms...), info...)
	names := gr.regularizerNames()
	for i, p := range gr.pens {
		r := m.Spec.Regularizers[i]
		var layer *layerStats
		if r.Layer != "" {
			layer = v.layer(r.Layer)
		}
		var eval float64
		if p.inGraph() {
			eval = e.pens[i][k]
		}
		pv := p.validation(r, m.Spec, layer, eval)
		metrics = append(metrics, Metric{Split: "validation", Name: names[i], Value: pv})
		metrics[0].Value += pv
	}
	if gr.mape() {
		metrics = append(metrics, Metric{Split: "validation", Name: "mape", Value: 100 * ratio(e.sums["ape"][k], e.sums["ape_count"][k])},
			Metric{Split: "validation", Name: "mape_seed", Value: 100 * ratio(e.sums["abs_error"][k], e.sums["abs_input"][k])})
	}
	return metrics, gr.unitStats(stats, recordUnits, &metrics)
}

// unitStats adds each observed layer's summary metrics to metrics and returns the
// per-unit statistics of the recorded layers (on epochs that record them).
func (gr *group) unitStats(stats []*layerStats, recordUnits bool, metrics *[]Metric) []UnitStats {
	var units []UnitStats
	for o, li := range gr.observed {
		name := gr.arch.Layers[li].Name
		*metrics = append(*metrics, stats[o].metrics(name)...)
		if recordUnits && contains(gr.spec.Record.Units.Layers, name) {
			units = append(units, stats[o].units(name)...)
		}
	}
	return units
}

func (gr *group) observedIndex(layer string) int {
	for o, li := range gr.observed {
		if gr.arch.Layers[li].Name == layer {
			return o
		}
	}
	panic("layer not observed: " + layer)
}

// metricNames names the columns of the step's metrics: the model's (trainNames:
// "loss", "reconstruction", its own terms), then each regularizer's penalty.
func (gr *group) metricNames() []string {
	return append(gr.model.trainNames(), gr.regularizerNames()...)
}

// regularizerNames names the regularizers' penalties.
func (gr *group) regularizerNames() []string {
	kinds := make([]string, len(gr.spec.Regularizers))
	layers := make([]string, len(kinds))
	for i, r := range gr.spec.Regularizers {
		kinds[i], layers[i] = r.Kind, r.Layer
	}
	return penaltyNames(kinds, layers)
}

func anys(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}
