package sweep

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
)

const base = `name: s
dataset: {name: digits}
model:
  encoder: [{units: 8, activation: sigmoid}]
  decoder: [{activation: sigmoid}]
loss: mse
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32, seed: 9}
regularizers:
  - {kind: kl_sparsity, layer: encoder.0, target: 0.05, weight: 3}
`

func expand(t *testing.T, sweep string) ([]Run, error) {
	t.Helper()
	s, src, err := spec.Parse("s.yaml", []byte(base+sweep))
	if err != nil {
		t.Fatal(err)
	}
	return Expand(s, src)
}

func TestNoSweepIsOneRunWithTheSpecSeed(t *testing.T) {
	runs, err := expand(t, "")
	if err != nil || len(runs) != 1 || runs[0].Seed != 9 || runs[0].Spec.Train.Seed != 9 {
		t.Fatalf("%v %+v", err, runs)
	}
}

func TestGridIsEveryCombinationTimesSeeds(t *testing.T) {
	runs, err := expand(t, `sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.1, 1, 10]}
    regularizers.0.target: {values: [0.01, 0.1]}
  seeds: [1, 2]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 12 {
		t.Fatalf("%d runs, want 3×2×2", len(runs))
	}
	seen := map[string]bool{}
	for i, r := range runs {
		if r.Index != i || seen[r.ID] || len(r.ID) != 12 {
			t.Errorf("run %d: index %d id %q", i, r.Index, r.ID)
		}
		seen[r.ID] = true
	}
	last := runs[11].Spec
	if last.Regularizers[0].Weight != 10 || last.Regularizers[0].Target != 0.1 || last.Train.Seed != 2 {
		t.Errorf("last run resolved to %+v seed %d", last.Regularizers[0], last.Train.Seed)
	}
}

func TestRunIDsAreStableAcrossExpansions(t *testing.T) {
	sw := "sweep: {method: grid, seeds: [1, 2]}\n"
	a, _ := expand(t, sw)
	b, _ := expand(t, sw)
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Fatalf("run %d: %s vs %s", i, a[i].ID, b[i].ID)
		}
	}
}

func TestRandomSearchIsSeededAndInRange(t *testing.T) {
	sw := `sweep:
  method: random
  count: 20
  seed: 3
  parameters:
    regularizers.0.weight: {min: 0.001, max: 10, distribution: log_uniform}
    optimizer.learning_rate: {values: [0.001, 0.01]}
`
	a, err := expand(t, sw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := expand(t, sw)
	if len(a) != 20 {
		t.Fatalf("%d runs", len(a))
	}
	for i := range a {
		w := a[i].Spec.Regularizers[0].Weight
		if w < 0.001 || w > 10 || a[i].ID != b[i].ID {
			t.Errorf("draw %d: weight %v, ids %s %s", i, w, a[i].ID, b[i].ID)
		}
	}
}

func TestRepeatedValuesAreAnError(t *testing.T) {
	_, err := expand(t, "sweep: {method: grid, parameters: {regularizers.0.weight: {values: [1, 1]}}}\n")
	if err == nil || !strings.Contains(err.Error(), "same configuration") {
		t.Errorf("got %v", err)
	}
}

func TestShardsArePartitions(t *testing.T) {
	runs, _ := expand(t, "sweep: {method: grid, seeds: [1, 2, 3, 4, 5]}\n")
	seen := map[string]int{}
	for i := 0; i < 3; i++ {
		for _, r := range Shard(runs, i, 3) {
			seen[r.ID]++
		}
	}
	if len(seen) != 5 {
		t.Errorf("shards cover %d of 5 runs", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("run %s in %d shards", id, n)
		}
	}
}

// BenchmarkExpand100k expands a 100 x 100 x 10-seed grid (100,000 runs), as every task
// of a Slurm array does before it picks its shard:
//
//	go test -run XXX -bench Expand100k -benchmem -benchtime 1x ./pkg/sweep
func BenchmarkExpand100k(b *testing.B) {
	var w, r []string
	for k := 1; k <= 100; k++ {
		w = append(w, fmt.Sprintf("%.2f", 0.01*float64(k)))
		r = append(r, fmt.Sprintf("%.3f", 0.001*float64(k)))
	}
	text := base + fmt.Sprintf(`sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [%s]}
    regularizers.0.target: {values: [%s]}
  seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
`, strings.Join(w, ", "), strings.Join(r, ", "))
	s, src, err := spec.Parse("big.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		runs, err := ExpandShard(s, src, 3, 1000)
		if err != nil || len(runs) != 100_000 {
			b.Fatal(len(runs), err)
		}
	}
}

func TestExpandShardKeepsTheSpecsOfItsShardOnlyAndTheSameIDs(t *testing.T) {
	s, src, err := spec.Parse("s.yaml", []byte(base+`sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [1, 2, 3]}
    optimizer.learning_rate: {values: [0.1, 0.01]}
  seeds: [1, 2]
`))
	if err != nil {
		t.Fatal(err)
	}
	all, err := Expand(s, src)
	if err != nil {
		t.Fatal(err)
	}
	shard, err := ExpandShard(s, src, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 12 || len(shard) != 12 {
		t.Fatalf("%d and %d runs, want 12", len(all), len(shard))
	}
	for k := range all {
		if all[k].ID != shard[k].ID || all[k].Index != k || all[k].Spec == nil {
			t.Errorf("run %d: ids %s and %s, spec %v", k, all[k].ID, shard[k].ID, all[k].Spec != nil)
		}
		if mine := k%5 == 1; (shard[k].Spec != nil) != mine || (shard[k].Config != nil) != mine {
			t.Errorf("run %d: in shard 1/5 %v, has spec %v", k, mine, shard[k].Spec != nil)
		}
		if mine := k%5 == 1; mine && string(shard[k].Config) != string(all[k].Config) {
			t.Errorf("run %d: configs differ", k)
		}
	}
}

// The runs table gives a swept path one column type, so every run's value of a path
// is the same kind: integers stay integers, a path mixing 1 and 0.5 is all float64,
// and the run ids are those of the values as written.
func TestSweptNumbersOfAPathAreOneKind(t *testing.T) {
	runs, err := expand(t, `sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.5, 1, 10]}
    model.encoder.0.units: {values: [4, 8]}
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		for _, p := range r.Params {
			switch p.Path {
			case "regularizers.0.weight":
				if _, ok := p.Value.(float64); !ok {
					t.Errorf("run %d: weight %v is %T, want float64", r.Index, p.Value, p.Value)
				}
			case "model.encoder.0.units":
				if _, ok := p.Value.(float64); ok {
					t.Errorf("run %d: units %v is float64, want an integer", r.Index, p.Value)
				}
			}
		}
	}
	written, err := expand(t, `sweep:
  method: grid
  parameters:
    regularizers.0.weight: {values: [0.5, 1.0, 10.0]}
    model.encoder.0.units: {values: [4, 8]}
`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		if runs[i].ID != written[i].ID {
			t.Errorf("run %d: id %s with weight 1, %s with 1.0", i, runs[i].ID, written[i].ID)
		}
	}
}
