package nb

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/sparselab/saerun/pkg/baseline"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/trained"
)

// Sweep is a sweep's results folder, read back: its runs in run order.
type Sweep struct {
	Dir     string
	Name    string         // the spec's name (the folder's)
	Mode    string         // the quick switch's line for a seed sweep (Seed), else ""
	Results *results.Sweep // the reader, for what these helpers leave out
	runs    []Run
}

func read(dir string) *Sweep {
	sw := Must(results.Open(dir))
	runs := Must(sw.Runs(results.Filter{}))
	if len(runs) == 0 {
		panic(fmt.Sprintf("nb: %s holds no runs", rel(dir)))
	}
	s := &Sweep{Dir: dir, Name: runs[0].Sweep, Results: sw}
	for _, r := range runs {
		s.runs = append(s.runs, Run{Run: r, sweep: sw})
	}
	return s
}

// String names the sweep, its runs and its folder: "nb-sweep-kl: 12 runs (12
// completed) in results/notebooks-sweep/nb-sweep-kl".
func (s *Sweep) String() string {
	return fmt.Sprintf("%s: %d runs (%d completed) in %s", s.Name, len(s.runs), len(s.Completed()), rel(s.Dir))
}

// Runs are the sweep's runs, in run order.
func (s *Sweep) Runs() []Run { return s.runs }

// Completed are the runs that completed (not diverged), in run order.
func (s *Sweep) Completed() []Run {
	var out []Run
	for _, r := range s.runs {
		if r.Status == results.StatusCompleted {
			out = append(out, r)
		}
	}
	return out
}

// Only is the sweep's one run; it panics when the sweep has several.
func (s *Sweep) Only() Run {
	if len(s.runs) != 1 {
		panic(fmt.Sprintf("nb: %s holds %d runs, want 1", rel(s.Dir), len(s.runs)))
	}
	return s.runs[0]
}

// Table prints a line naming the sweep (its folder, and Mode when set), then each
// run's label (its swept values), final train and validation loss and validation
// reconstruction beside the mean-image baseline's loss on the run's own data, whether
// it beats it, and the final validation metrics extra names ("l0/encoder.0").
func (s *Sweep) Table(extra ...string) {
	head := s.String()
	if s.Mode != "" {
		head += ", " + s.Mode
	}
	fmt.Fprintln(Log, head)
	fmt.Fprint(Log, s.table(extra))
}

func (s *Sweep) table(extra []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %10s %10s %10s %10s %6s", "run", "train loss", "val loss", "val recon", "mean img", "beats")
	for _, e := range extra {
		fmt.Fprintf(&b, " %16s", e)
	}
	b.WriteString("\n")
	for _, r := range s.runs {
		base, recon := r.Baseline().Loss, r.Metric("validation/reconstruction")
		fmt.Fprintf(&b, "%-34s %10.4g %10.4g %10.4g %10.4g %6v", r.Label(), r.Metric("train/loss"), r.Metric("validation/loss"), recon, base, recon < base)
		for _, e := range extra {
			fmt.Fprintf(&b, " %16.4g", r.Metric("validation/"+e))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Run is one run of a sweep read back, with what the notebooks read of it. Its tables
// are read at the last epoch that recorded them (results.Filter.LastEpoch).
type Run struct {
	results.Run
	sweep *results.Sweep
}

// Metric is the run's final value of key ("validation/reconstruction": split/metric,
// from its final_metrics column), NaN when it has none.
func (r Run) Metric(key string) float64 {
	if v, ok := r.Final(key); ok {
		return v
	}
	return math.NaN()
}

// LastMetrics are the run's metrics on split ("train" or "validation") at its last
// epoch, by name.
func (r Run) LastMetrics(split string) results.Metrics {
	m := Must(r.sweep.Metrics(results.Filter{RunIDs: []string{r.RunID}, Split: split, LastEpoch: true}))
	if len(m) == 0 {
		panic(fmt.Sprintf("nb: run %s has no %s metrics", r.RunID, split))
	}
	return m
}

// Swept is the run's value of the swept parameter path ("model.sae.k").
func (r Run) Swept(path string) float64 {
	v, ok := r.Param(path)
	if !ok {
		panic(fmt.Sprintf("nb: run %s has no numeric swept parameter %s (it has %v)", r.RunID, path, results.Runs{r.Run}.ParamNames()))
	}
	return v
}

// Curve is the run's metric on split ("train" or "validation") by epoch.
func (r Run) Curve(split, metric string) []float64 {
	m := Must(r.sweep.Metrics(results.Filter{RunIDs: []string{r.RunID}, Split: split, Metric: metric}))
	c := m.Curve(r.RunID, split, metric)
	if len(c.Values) == 0 {
		panic(fmt.Sprintf("nb: run %s has no %s metric %q", r.RunID, split, metric))
	}
	return c.Values
}

// Units are the unit statistics of layer at the last epoch that recorded them, by unit.
func (r Run) Units(layer string) []results.UnitRow {
	us := Must(r.sweep.Units(results.Filter{RunIDs: []string{r.RunID}, Layer: layer, LastEpoch: true}))
	if len(us) == 0 {
		panic(fmt.Sprintf("nb: run %s recorded no units of layer %s (record.units)", r.RunID, layer))
	}
	return us
}

// UnitMeans is each unit's mean activation of layer over the validation set, at the
// last epoch that recorded units.
func (r Run) UnitMeans(layer string) []float64 {
	var v []float64
	for _, u := range r.Units(layer) {
		v = append(v, u.MeanActivation)
	}
	return v
}

// Activations are the recorded activation vectors of layer (one row per probe sample)
// at the last epoch that recorded them.
func (r Run) Activations(layer string) []results.ActivationRow {
	rows := Must(r.sweep.Activations(results.Filter{RunIDs: []string{r.RunID}, Layer: layer, LastEpoch: true}))
	if len(rows) == 0 {
		panic(fmt.Sprintf("nb: run %s recorded no activations of layer %s (record.activations)", r.RunID, layer))
	}
	return rows
}

// ActivationValues are all the values of Activations(layer), and how many samples
// (rows) they come from.
func (r Run) ActivationValues(layer string) (values []float64, samples int) {
	rows := r.Activations(layer)
	for _, row := range rows {
		for _, a := range row.Activation {
			values = append(values, float64(a))
		}
	}
	return values, len(rows)
}

// Images are the recorded inputs and outputs of kind ("reconstruction", or a VAE's
// "generated", whose inputs are empty) at the last epoch that recorded them.
func (r Run) Images(kind string) (inputs, outputs [][]float32) {
	rows := Must(r.sweep.Reconstructions(results.Filter{RunIDs: []string{r.RunID}, Kind: kind, LastEpoch: true}))
	if len(rows) == 0 {
		panic(fmt.Sprintf("nb: run %s recorded no images of kind %s (record.reconstructions)", r.RunID, kind))
	}
	for _, x := range rows {
		inputs, outputs = append(inputs, x.Input), append(outputs, x.Output)
	}
	return inputs, outputs
}

// Model is the run's trained model, at the last epoch that kept its weights, on the
// host (pkg/trained: Encode, Decode, Summary, its layers' weights).
func (r Run) Model() *trained.Model { return Must(trained.Load(r.sweep, r.RunID)) }

// Config is the run's resolved spec (defaults included).
func (r Run) Config() spec.Spec {
	var s spec.Spec
	Check(json.Unmarshal([]byte(r.Run.Config), &s))
	return s
}

// Data are the run's own training and validation sets: its dataset with its split and
// caps, as it was trained and scored on (the images behind a validation_index).
func (r Run) Data() data.Splits {
	s := r.Config()
	full := Must(data.Open(specdata.Source(s.Dataset), DataDir()))
	return Must(specdata.Prepare(full, s.Dataset))
}

// Baseline scores predicting the mean training image on the run's own data (its
// dataset, split and caps) with its loss: what the run must beat (pkg/baseline).
func (r Run) Baseline() baseline.Scores { return Must(baseline.OfSpec(r.Config(), DataDir())) }

// Dataset are the overrides (--set) that make a spec train on this run's recorded
// activations of layer, at the last epoch that recorded them: a parquet dataset of
// the activations table with where: {run_id, epoch, layer}.
func (r Run) Dataset(layer string) []string {
	rows := r.Activations(layer)
	return []string{
		"dataset.name=parquet",
		"dataset.path=" + filepath.Join(r.sweep.Dir, results.ActivationsTable),
		fmt.Sprintf("dataset.where.run_id=%q", r.RunID), // quoted: an id of digits stays a string
		fmt.Sprintf("dataset.where.epoch=%d", rows[0].Epoch),
		"dataset.where.layer=" + layer,
	}
}
