package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sparselab/saerun/pkg/autoencoder"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/sparsity"
)

// evalBatch is the validation batch size; the last batch is padded so that evaluation
// compiles once.
const evalBatch = 512

func (gr *group) run(ctx context.Context, d Data, obs Observer) ([]Outcome, error) {
	s := gr.spec
	K := len(gr.members)
	N, D := d.Train.N, d.Train.Dim
	if N == 0 || d.Validation == nil || d.Validation.N == 0 {
		return nil, fmt.Errorf("empty training or validation set")
	}
	xTrain := tensors.FromFlatDataAndDimensions(d.Train.X, N, D)
	xVal := tensors.FromFlatDataAndDimensions(d.Validation.X, d.Validation.N, D)
	hpFlat := hyperparameters(gr.members)
	hp := tensors.FromFlatDataAndDimensions(hpFlat, K, len(hpFlat)/K)
	defer func() {
		for _, t := range []*tensors.Tensor{xTrain, xVal, hp} {
			t.FinalizeAll()
		}
	}()

	orders := make([]*rand.Rand, K)
	for k, m := range gr.members {
		orders[k] = rand.New(rand.NewPCG(uint64(m.Spec.Train.Seed), 0xda7a0de5))
	}
	outcomes := make([]Outcome, K)
	active := make([]bool, K)
	for k := range active {
		active[k] = true
		outcomes[k].Status = StatusCompleted
	}
	bs := s.Train.BatchSize
	if bs > N {
		bs = N
	}
	batches := (N + bs - 1) / bs
	start := time.Now()
	trainMetrics := gr.metricNames()
	nMetrics := len(trainMetrics)

	for epoch := 1; epoch <= s.Train.Epochs; epoch++ {
		perms := make([][]int, K)
		for k := range perms {
			perms[k] = orders[k].Perm(N)
		}
		sums := make([][]float64, K)
		for k := range sums {
			sums[k] = make([]float64, nMetrics)
		}
		activeT := tensors.FromValue(active)
		for b := 0; b < batches; b++ {
			lo, hi := b*bs, min((b+1)*bs, N)
			idx := make([]int32, 0, K*(hi-lo))
			for k := range perms {
				for _, i := range perms[k][lo:hi] {
					idx = append(idx, int32(i))
				}
			}
			t0 := time.Now()
			idxT := tensors.FromFlatDataAndDimensions(idx, K, hi-lo)
			out, err := gr.step.Exec(xTrain, idxT, hp, activeT)
			idxT.FinalizeAll()
			if err != nil {
				return nil, fmt.Errorf("training step (epoch %d, batch %d): %w", epoch, b, err)
			}
			if epoch == 1 && b == 0 {
				for k := range outcomes {
					outcomes[k].CompileSecs = time.Since(t0).Seconds()
				}
			}
			vals := copyAndFree(out[0])
			changed := false
			for k := range sums {
				if !active[k] {
					continue
				}
				row := vals[k*nMetrics : (k+1)*nMetrics]
				if !allFinite(row) {
					active[k], changed = false, true
					outcomes[k].Status, outcomes[k].DivergedAt = StatusDiverged, epoch
					outcomes[k].Message = fmt.Sprintf("loss became %v in epoch %d, batch %d", row[0], epoch, b)
					continue
				}
				for m, v := range row {
					sums[k][m] += float64(v) * float64(hi-lo)
				}
			}
			if changed {
				activeT.FinalizeAll()
				activeT = tensors.FromValue(active)
			}
			obs.Progress(epoch, b+1, batches)
		}
		activeT.FinalizeAll()
		if !anyTrue(active) {
			break
		}
		results, err := gr.evaluate(xVal, hp, d.Validation, epoch)
		if err != nil {
			return nil, err
		}
		elapsed := time.Since(start).Seconds()
		for k := range gr.members {
			if !active[k] {
				continue
			}
			e := results[k]
			e.Epoch, e.Elapsed = epoch, elapsed
			for m, name := range trainMetrics {
				e.Metrics = append(e.Metrics, Metric{"train", name, sums[k][m] / float64(N)})
			}
			if !allFinite64(e.Metrics) {
				active[k] = false
				outcomes[k].Status, outcomes[k].DivergedAt = StatusDiverged, epoch
				outcomes[k].Message = fmt.Sprintf("validation metrics not finite in epoch %d", epoch)
				continue
			}
			if err := obs.Epoch(k, e); err != nil {
				return nil, err
			}
			outcomes[k].Epochs, outcomes[k].Final = epoch, e.Metrics
		}
		if ctx.Err() != nil && epoch < s.Train.Epochs {
			for k := range outcomes {
				if active[k] {
					outcomes[k].Status = StatusInterrupted
					outcomes[k].Message = fmt.Sprintf("interrupted after epoch %d of %d", epoch, s.Train.Epochs)
				}
			}
			break
		}
	}
	weights, err := gr.weights()
	if err != nil {
		return nil, err
	}
	for k := range outcomes {
		outcomes[k].Weights = weights[k]
	}
	return outcomes, nil
}

// weights copies every model's trained parameters to the host.
func (gr *group) weights() ([][]LayerWeights, error) {
	K := len(gr.members)
	out := make([][]LayerWeights, K)
	for li, l := range gr.arch.Layers {
		kt, err := gr.params.Kernels[li].Value()
		if err != nil {
			return nil, err
		}
		bt, err := gr.params.Biases[li].Value()
		if err != nil {
			return nil, err
		}
		kernel, bias := tensors.MustCopyFlatData[float32](kt), tensors.MustCopyFlatData[float32](bt)
		n := l.In * l.Out
		for k := 0; k < K; k++ { // stored [K, out, in]; LayerWeights is in×out
			out[k] = append(out[k], LayerWeights{Name: l.Name, In: l.In, Out: l.Out,
				Kernel: autoencoder.TransposeHost(kernel[k*n:(k+1)*n], l.Out, l.In), Bias: bias[k*l.Out : (k+1)*l.Out]})
		}
	}
	return out, nil
}

// metricNames names the columns of the step's output after "loss" and "reconstruction".
func (gr *group) metricNames() []string {
	kinds := make([]string, len(gr.spec.Regularizers))
	layers := make([]string, len(kinds))
	for i, r := range gr.spec.Regularizers {
		kinds[i], layers[i] = r.Kind, r.Layer
	}
	names := []string{"loss", "reconstruction"}
	if gr.vae {
		names = append(names, "penalty/gaussian_kl/latent")
	}
	return append(names, penaltyNames(kinds, layers)...)
}

// evaluate runs every model over the whole validation set and computes its metrics,
// unit statistics and (on recorded epochs) probe activations.
func (gr *group) evaluate(xVal, hp *tensors.Tensor, val *data.Set, epoch int) ([]*Epoch, error) {
	s := gr.spec
	K := len(gr.members)
	rec := s.Record
	last := epoch == s.Train.Epochs
	recordUnits := last || epoch%rec.Units.Every == 0
	recordActs := rec.Activations.Samples > 0 && (last || epoch%rec.Activations.Every == 0)
	probe := min(rec.Activations.Samples, val.N)

	stats := make([][]*layerStats, K) // [model][observed layer]
	for k := range stats {
		for _, li := range gr.observed {
			l := gr.arch.Layers[li]
			stats[k] = append(stats[k], newLayerStats(l.Out, l.Activation, rec.ActiveThreshold))
		}
	}
	results := make([]*Epoch, K)
	probes := make([][]Activations, K)
	for k := range results {
		results[k] = &Epoch{}
		for _, li := range gr.observed {
			probes[k] = append(probes[k], Activations{Layer: gr.arch.Layers[li].Name})
		}
	}
	recSum, klSum := make([]float64, K), make([]float64, K)
	apeSum, apeCount := make([]float64, K), make([]float64, K)
	var wd [][]float32 // per weight_decay regularizer, [K]
	bs := min(evalBatch, val.N)
	for lo := 0; lo < val.N; lo += bs {
		n := min(bs, val.N-lo)
		idx := make([]int32, bs)
		for i := range idx {
			if i < n {
				idx[i] = int32(lo + i)
			}
		}
		idxT := tensors.FromFlatDataAndDimensions(idx, bs)
		out, err := gr.eval.Exec(xVal, idxT, hp)
		idxT.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("validation (epoch %d): %w", epoch, err)
		}
		next := func() []float32 {
			v := copyAndFree(out[0])
			out = out[1:]
			return v
		}
		addRows := func(sums []float64, v []float32) {
			for k := 0; k < K; k++ {
				for i := 0; i < n; i++ {
					sums[k] += float64(v[k*bs+i])
				}
			}
		}
		addRows(recSum, next())
		if gr.vae {
			addRows(klSum, next())
		}
		if gr.mape() {
			addRows(apeSum, next())
			addRows(apeCount, next())
		}
		wd = wd[:0]
		for _, r := range s.Regularizers {
			if r.Kind == "weight_decay" {
				wd = append(wd, next())
			}
		}
		for o, li := range gr.observed {
			U := gr.arch.Layers[li].Out
			acts := next()
			for k := 0; k < K; k++ {
				for i := 0; i < n; i++ {
					h := acts[(k*bs+i)*U : (k*bs+i+1)*U]
					stats[k][o].add(h)
					if recordActs && lo+i < probe {
						p := &probes[k][o]
						p.Index = append(p.Index, lo+i)
						p.Labels = append(p.Labels, int(val.Labels[lo+i]))
						p.Vectors = append(p.Vectors, append([]float32(nil), h...))
					}
				}
			}
		}
	}
	if err := gr.images(results, val, epoch); err != nil {
		return nil, err
	}

	names := gr.metricNames()
	for k, m := range gr.members {
		e := results[k]
		recLoss := recSum[k] / float64(val.N)
		total := recLoss
		var pens []float64
		if gr.vae {
			kl := m.Spec.Model.KLWeight * klSum[k] / float64(val.N)
			pens = append(pens, kl)
			total += kl
		}
		w := 0
		for _, r := range m.Spec.Regularizers {
			var p float64
			switch r.Kind {
			case "l1_activity":
				p = r.Weight * stats[k][gr.observedIndex(r.Layer)].l1()
			case "kl_sparsity":
				p = sparsity.KLFromMeans(stats[k][gr.observedIndex(r.Layer)].means(), r.Target, r.Weight)
			case "weight_decay":
				p = float64(wd[w][k])
				w++
			}
			pens = append(pens, p)
			total += p
		}
		e.Metrics = append(e.Metrics, Metric{"validation", names[0], total}, Metric{"validation", names[1], recLoss})
		for i, p := range pens {
			e.Metrics = append(e.Metrics, Metric{"validation", names[2+i], p})
		}
		if gr.mape() {
			e.Metrics = append(e.Metrics, Metric{"validation", "mape", 100 * apeSum[k] / math.Max(apeCount[k], 1)})
		}
		for o, li := range gr.observed {
			name := gr.arch.Layers[li].Name
			e.Metrics = append(e.Metrics, stats[k][o].metrics(name)...)
			if recordUnits && contains(s.Record.Units.Layers, name) {
				e.Units = append(e.Units, stats[k][o].units(name)...)
			}
			if recordActs && contains(s.Record.Activations.Layers, name) {
				e.Activations = append(e.Activations, probes[k][o])
			}
		}
	}
	return results, nil
}

// images adds, on recorded epochs, the reconstructions of the first validation rows
// and a VAE's decodings of fixed prior draws (the same draws every epoch).
func (gr *group) images(results []*Epoch, val *data.Set, epoch int) error {
	rec := gr.spec.Record
	last := epoch == gr.spec.Train.Epochs
	K, D := len(gr.members), val.Dim
	if n := min(rec.Reconstructions.Samples, val.N); n > 0 && (last || epoch%rec.Reconstructions.Every == 0) {
		x := tensors.FromFlatDataAndDimensions(val.X[:n*D], n, D)
		out, err := gr.reconstruct.Exec(x)
		x.FinalizeAll()
		if err != nil {
			return fmt.Errorf("reconstructions (epoch %d): %w", epoch, err)
		}
		flat := copyAndFree(out[0])
		for k := 0; k < K; k++ {
			for i := 0; i < n; i++ {
				results[k].Images = append(results[k].Images, Image{Kind: "reconstruction", Sample: i, Index: i,
					Label: int(val.Labels[i]), Input: val.Row(i), Output: flat[(k*n+i)*D : (k*n+i+1)*D]})
			}
		}
	}
	if n := rec.Generated.Samples; gr.vae && n > 0 && (last || epoch%rec.Generated.Every == 0) {
		L := gr.spec.Model.Latent
		z := make([]float32, 0, K*n*L)
		for _, m := range gr.members {
			rng := rand.New(rand.NewPCG(uint64(m.Spec.Train.Seed), 0x9e4e7a7e))
			for i := 0; i < n*L; i++ {
				z = append(z, float32(rng.NormFloat64()))
			}
		}
		zT := tensors.FromFlatDataAndDimensions(z, K, n, L)
		out, err := gr.decode.Exec(zT)
		zT.FinalizeAll()
		if err != nil {
			return fmt.Errorf("generated samples (epoch %d): %w", epoch, err)
		}
		flat := copyAndFree(out[0])
		for k := 0; k < K; k++ {
			for i := 0; i < n; i++ {
				results[k].Images = append(results[k].Images, Image{Kind: "generated", Sample: i, Index: -1, Label: -1,
					Output: flat[(k*n+i)*D : (k*n+i+1)*D]})
			}
		}
	}
	return nil
}

func (gr *group) observedIndex(layer string) int {
	for o, li := range gr.observed {
		if gr.arch.Layers[li].Name == layer {
			return o
		}
	}
	panic("layer not observed: " + layer)
}

// copyAndFree copies a result to Go memory and frees its backend buffer at once: XLA's
// buffers live outside the Go heap, so waiting for the garbage collector to free them
// lets memory grow with every step.
func copyAndFree(t *tensors.Tensor) []float32 {
	v := tensors.MustCopyFlatData[float32](t)
	t.FinalizeAll()
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allFinite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

func allFinite64(ms []Metric) bool {
	for _, m := range ms {
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return false
		}
	}
	return true
}

func anyTrue(v []bool) bool {
	for _, b := range v {
		if b {
			return true
		}
	}
	return false
}
