package specdata

import (
	"testing"

	"github.com/sparselab/saerun/pkg/spec"
)

func TestCacheLoadsASourceOnceAndKeepsSectionsApart(t *testing.T) {
	syn := spec.SyntheticData{Dim: 4, Features: 8, Samples: 50, Active: 2, Seed: 3}
	a := spec.Dataset{Name: "synthetic", Synthetic: syn, Validation: "split", ValidationFraction: 0.2}
	b := a
	b.MaxTrainSamples = 10 // same source, other caps
	c := NewCache("")
	da, err := c.Get(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := c.Get(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.loaded) != 1 {
		t.Errorf("two sections of one source loaded it %d times", len(c.loaded))
	}
	if da.Train.N != 40 || db.Train.N != 10 || da.Validation.N != 10 || db.Validation.N != 10 {
		t.Errorf("rows: %d/%d and %d/%d, want 40/10 and 10/10", da.Train.N, da.Validation.N, db.Train.N, db.Validation.N)
	}
	if again, _ := c.Get(a); again.Train != da.Train {
		t.Error("the same section was prepared twice")
	}
	other := a
	other.Synthetic.Seed = 4
	if _, err := c.Get(other); err != nil || len(c.loaded) != 2 {
		t.Errorf("another source: %v, %d loaded", err, len(c.loaded))
	}
	if _, err := c.Get(spec.Dataset{Name: "synthetic", Validation: "test", Synthetic: syn}); err == nil {
		t.Error("validation: test on the synthetic set (no test set) accepted")
	}
}
