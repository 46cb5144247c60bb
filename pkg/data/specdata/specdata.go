// Package specdata prepares the data a spec's dataset section names: it maps the
// section onto package data's Source (what to load) and Selection (which split and
// how much of it), and caches loaded sets across the runs of a sweep. The runner,
// the notebooks and the tools that rebuild a run's data all prepare it here, so that a
// notebook's validation set is the very one its run was scored on. It is a package of
// its own because package data knows nothing of the spec (layers_test.go, at the
// module root, keeps it so) and the spec nothing of data.
package specdata

import (
	"encoding/json"

	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
)

// Source is what data.Open needs of a dataset section.
func Source(ds spec.Dataset) data.Source {
	return data.Source{
		Name:    ds.Name,
		Path:    ds.Path,
		Parquet: data.ParquetOptions{Column: ds.Column, Where: ds.Where},
		Synthetic: data.SyntheticConfig{Dim: ds.Synthetic.Dim, Features: ds.Synthetic.Features,
			Samples: ds.Synthetic.Samples, Active: ds.Synthetic.Active, Seed: ds.Synthetic.Seed},
		Buffer:     int64(ds.Buffer) << 20,
		StreamSeed: uint64(ds.SplitSeed),
	}
}

// Selection is the split and caps of a dataset section.
func Selection(ds spec.Dataset) data.Selection {
	return data.Selection{Validation: ds.Validation, ValidationFraction: ds.ValidationFraction,
		SplitSeed: ds.SplitSeed, MaxTrainSamples: ds.MaxTrainSamples, MaxValidationSamples: ds.MaxValidationSamples,
		ValidationPath: ds.ValidationPath, Column: ds.Column}
}

// Prepare applies a dataset section's split and caps to a loaded dataset.
func Prepare(full *data.Dataset, ds spec.Dataset) (data.Splits, error) {
	return data.Prepare(full, ds.Name, Selection(ds))
}

// Cache loads each dataset once per process and prepares each dataset section once:
// the runs of a sweep mostly share both.
type Cache struct {
	dir    string
	loaded map[string]*data.Dataset // by Source
	splits map[string]data.Splits   // by the whole section
}

// NewCache returns a cache that loads the downloadable sets from dir (see data.Load).
func NewCache(dir string) *Cache {
	return &Cache{dir: dir, loaded: map[string]*data.Dataset{}, splits: map[string]data.Splits{}}
}

// Get returns the prepared data of a dataset section.
func (c *Cache) Get(ds spec.Dataset) (data.Splits, error) {
	key, err := json.Marshal(ds)
	if err != nil {
		return data.Splits{}, err
	}
	if d, ok := c.splits[string(key)]; ok {
		return d, nil
	}
	src := Source(ds)
	srcKey, err := json.Marshal(src)
	if err != nil {
		return data.Splits{}, err
	}
	full, ok := c.loaded[string(srcKey)]
	if !ok {
		if full, err = data.Open(src, c.dir); err != nil {
			return data.Splits{}, err
		}
		c.loaded[string(srcKey)] = full
	}
	d, err := Prepare(full, ds)
	if err != nil {
		return data.Splits{}, err
	}
	c.splits[string(key)] = d
	return d, nil
}
