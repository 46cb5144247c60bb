package train

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

const matryoshkaSweep = `name: m
dataset:
  name: synthetic
  synthetic: {dim: 16, features: 32, samples: 1500, active: 3, seed: 2}
model:
  kind: sae
  sae: {latents: 64, activation: matryoshka_batchtopk, k: 3, matryoshka_widths: [8, 24, 64], dead_after: 3000, threshold_momentum: 0.9}
loss: mse_sum
optimizer: {name: adam, learning_rate: 0.005}
train: {epochs: 4, batch_size: 100}
record: {activations: {samples: 0}}
sweep:
  method: grid
  parameters:
    model.sae.k: {values: [2, 4]}
  seeds: [1, 2]
`

// syntheticData is the synthetic set of s, split 80/20.
func syntheticData(t *testing.T, s *spec.Spec) Data {
	t.Helper()
	c := s.Dataset.Synthetic
	set, err := data.Synthetic(data.SyntheticConfig{Dim: c.Dim, Features: c.Features, Samples: c.Samples, Active: c.Active, Seed: c.Seed})
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := data.Split(set, 0.2, 0)
	if err != nil {
		t.Fatal(err)
	}
	return Data{Train: tr, Validation: val}
}

func matryoshkaMembers(t *testing.T, text string) []Member {
	t.Helper()
	s, src, err := spec.Parse("m.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sweep.Expand(s, src)
	if err != nil {
		t.Fatal(err)
	}
	var out []Member
	for _, r := range runs {
		out = append(out, Member{RunID: r.ID, Spec: r.Spec})
	}
	return out
}

// A Matryoshka BatchTopK sweep over k and seeds is one group (one compiled program),
// trains on the synthetic set, and reports each prefix's reconstruction loss (summed
// into the loss, as the paper's objective) and FVU; grouped models train as alone.
func TestMatryoshkaSweepTrainsInOneGroupWithFVUPerPrefix(t *testing.T) {
	b := saeBackend(t)
	members := matryoshkaMembers(t, matryoshkaSweep)
	if len(members) != 4 {
		t.Fatalf("%d runs, want 4", len(members))
	}
	for _, m := range members[1:] {
		if GroupKey(m.Spec) != GroupKey(members[0].Spec) {
			t.Fatalf("run %s (k %d, seed %d) is not in the group of run %s", m.RunID, m.Spec.Model.SAE.K, m.Spec.Train.Seed, members[0].RunID)
		}
	}
	d := syntheticData(t, members[0].Spec)
	together := &History{}
	out, err := Train(context.Background(), b, members, d, together)
	if err != nil {
		t.Fatal(err)
	}
	for k, m := range members {
		if out[k].Status != StatusCompleted {
			t.Fatalf("run %s: %+v", m.RunID, out[k])
		}
		first, last := together.Epochs[k][0], together.Epochs[k][len(together.Epochs[k])-1]
		for _, split := range []string{"train", "validation"} {
			sum := value(last, split, "reconstruction")
			for _, w := range []int{8, 24} {
				v := value(last, split, fmt.Sprintf("reconstruction/prefix_%d", w))
				if !(v > 0) {
					t.Fatalf("run %s: %s reconstruction/prefix_%d = %v", m.RunID, split, w, v)
				}
				sum += v
			}
			tol := 1e-12          // validation adds the float64 sums
			if split == "train" { // each step's float32 terms, AuxK among them
				sum += value(last, split, "penalty/auxk/encoder.0")
				tol = 1e-6
			}
			if loss := value(last, split, "loss"); math.Abs(loss-sum) > tol*sum {
				t.Errorf("run %s: %s loss %v, want the sum of the prefixes' reconstruction losses %v", m.RunID, split, loss, sum)
			}
		}
		if value(last, "validation", "fvu/prefix_64") != value(last, "validation", "fvu") {
			t.Errorf("run %s: fvu/prefix_64 %v is not fvu %v", m.RunID, value(last, "validation", "fvu/prefix_64"), value(last, "validation", "fvu"))
		}
		f8, f24, f64 := value(last, "validation", "fvu/prefix_8"), value(last, "validation", "fvu/prefix_24"), value(last, "validation", "fvu/prefix_64")
		if !(f8 > f64 && f24 > f64 && f64 > 0) {
			t.Errorf("run %s: fvu per prefix 8: %v, 24: %v, 64: %v; want the whole dictionary best", m.RunID, f8, f24, f64)
		}
		if !(f64 < value(first, "validation", "fvu/prefix_64")) {
			t.Errorf("run %s: fvu did not fall: %v after epoch 1, %v at the end", m.RunID, value(first, "validation", "fvu/prefix_64"), f64)
		}
	}
	solo := &History{}
	if _, err := Train(context.Background(), b, members[3:], d, solo); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loss", "fvu", "fvu/prefix_8", "fvu/prefix_24", "l0"} {
		g, w := finalValue(t, together, 3, "validation", name), finalValue(t, solo, 0, "validation", name)
		if math.Abs(g-w) > 1e-5*math.Max(1, math.Abs(w)) {
			t.Errorf("%s: %v grouped, %v alone", name, g, w)
		}
	}
}

// With one width, the whole dictionary, Matryoshka BatchTopK is BatchTopK: the same
// selection, threshold and AuxK, one reconstruction term; its metrics are identical.
func TestMatryoshkaWithOneWidthIsBatchTopK(t *testing.T) {
	b := saeBackend(t)
	one := matryoshkaMembers(t, matryoshkaSweep+"")[0]
	mat := *one.Spec
	mat.Model.SAE.MatryoshkaWidths = []int{64}
	plain := mat
	plain.Model.SAE.Activation, plain.Model.SAE.MatryoshkaWidths = "batchtopk", nil
	d := syntheticData(t, &mat)
	run := func(s *spec.Spec) *History {
		h := &History{}
		if _, err := Train(context.Background(), b, []Member{{RunID: "x", Spec: s}}, d, h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	hm, hp := run(&mat), run(&plain)
	for _, name := range []string{"loss", "reconstruction", "fvu", "l0", "dead_fraction"} {
		if g, w := finalValue(t, hm, 0, "validation", name), finalValue(t, hp, 0, "validation", name); g != w {
			t.Errorf("%s: %v matryoshka with widths [64], %v batchtopk", name, g, w)
		}
	}
}
