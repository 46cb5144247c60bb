package runner

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/data/specdata"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

// MaxGroupSize is how many models of spec s the scheduler trains together on device
// dev: as many as keep the parameters, their gradients and optimizer state and one
// batch's activations within a memory budget.
//
// On a CPU the budget is 128 MiB and the group at most 16 (beyond that a CPU gains
// little from wider batches). The budget is small on purpose: XLA's CPU runtime
// allocates a step's scratch area (about half this estimate) afresh on every step;
// glibc reuses blocks up to 64 MiB for the threads that run steps, and maps anything
// larger anew each time, page faults included. Measured on the seed-004 model
// (bench/README.md): 16 models in one group took 12.6-13.9 s for an epoch each,
// against 8.9 s as two groups of 8.
//
// On a GPU the budget is half the device's free memory and the group at most 256: a
// GPU is all overhead for one small model, and wide groups keep it busy (bench/gpu.sh:
// 64 seed-004 models train per model-epoch at a fraction of one model's cost).
func MaxGroupSize(s *spec.Spec, inputDim int, dev backend.Device) int {
	budget, most := int64(128<<20), 16
	if dev.Accelerator {
		budget, most = 4<<30, 256 // when the free memory is unknown
		if dev.FreeBytes > 0 {
			budget = dev.FreeBytes / 2
		}
	}
	return int(max(1, min(int64(most), budget/ModelMemory(s, inputDim).Total())))
}

// ModelBytes is the memory one model of a group needs while it trains, in float32
// bytes: its parameters, their gradients and the optimizer's two moments (Adam's; four
// copies of the parameters in all), and one batch's activations forward and backward
// (four values per unit, input included, and sample).
type ModelBytes struct {
	Parameters, Gradients, Optimizer, Activations int64
}

// Total is the sum of the parts.
func (m ModelBytes) Total() int64 { return m.Parameters + m.Gradients + m.Optimizer + m.Activations }

// ModelMemory estimates ModelBytes for a model of spec s on inputDim-wide rows.
func ModelMemory(s *spec.Spec, inputDim int) ModelBytes {
	var params, units int64
	in := int64(inputDim)
	layers := append(slices.Clone(s.Model.Encoder), s.Model.Decoder...)
	if s.Model.Kind == "sae" { // encoder.0 of the latents, decoder.0 back to the input
		layers = []spec.Layer{{Units: s.Model.SAE.Latents}, {}}
	}
	for _, l := range layers {
		out := int64(l.Units)
		if out == 0 {
			out = int64(inputDim)
		}
		params += in*out + out
		units += out
		in = out
	}
	return ModelBytes{Parameters: 4 * params, Gradients: 4 * params, Optimizer: 8 * params,
		Activations: 16 * int64(s.Train.BatchSize) * (units + int64(inputDim))}
}

// DataBytes is the memory of a run's data set while it trains: its training and
// validation rows as loaded, and once more as the copy training works on (a scaled
// copy, or the backend's); for a streamed set, the sample (its Train) and the three
// chunks dataset.buffer holds.
func DataBytes(d train.Data) int64 {
	var n int64
	for _, set := range []*data.Set{d.Train, d.Validation} {
		if set != nil {
			n += 2 * 4 * int64(set.N) * int64(set.Dim)
		}
	}
	if st := d.Stream; st != nil {
		n += 3 * 4 * int64(st.ChunkRows()) * int64(st.Dim())
	}
	return n
}

// CheckMemory refuses, before anything is written, a group of size models of run r
// that cannot fit: on a CPU, the models and the data against the memory limit (the
// smaller of the physical memory and the cgroup's limit); on a GPU of known size, the
// models against its memory. A run that does not fit would otherwise create the sweep
// folder and then end the process (the Go runtime's "out of memory", exit 2) with
// nothing in the runs table. limit 0 (unknown) checks nothing.
func CheckMemory(path string, r sweep.Run, d train.Data, size int, dev backend.Device, limit int64, limitFrom string) error {
	m := ModelMemory(r.Spec, d.Train.Dim)
	models := int64(size) * m.Total()
	need, what := models+DataBytes(d), "the model and its data"
	if dev.Accelerator {
		need, what, limit, limitFrom = models, "the model", dev.MemoryBytes, dev.Name+"'s memory"
	}
	if limit <= 0 || need <= limit {
		return nil
	}
	group, fix := "", "train.batch_size"
	if size > 1 {
		group, fix = fmt.Sprintf("a group of %d of ", size), "--group-size, "+fix
		what = strings.NewReplacer("model", "models", "its", "their").Replace(what)
	}
	if r.Spec.Model.Kind == "sae" {
		fix = "model.sae.latents, " + fix
	} else {
		fix = "the layers' units, " + fix
	}
	return fmt.Errorf("%s: run %s cannot fit in memory: %s need about %s (%sa model of %s parameters, %s gradients, %s optimizer state, %s activations at train.batch_size %d; data %s), more than the %s limit of %s; lower %s",
		path, r.ID, what, gib(need), group, gib(m.Parameters), gib(m.Gradients), gib(m.Optimizer), gib(m.Activations),
		r.Spec.Train.BatchSize, gib(DataBytes(d)), limitFrom, gib(limit), fix)
}

func gib(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// MemoryLimit is the memory this process may use: the smaller of the physical memory
// (/proc/meminfo) and the cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes),
// and which of them it is. 0 when neither is known (not Linux).
func MemoryLimit() (int64, string) {
	limit, from := int64(0), ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					limit, from = kb<<10, "physical memory"
				}
			}
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // "max": no limit
		if err == nil && n > 0 && (limit == 0 || n < limit) {
			limit, from = n, "cgroup ("+p+")"
		}
		break
	}
	return limit, from
}

// memoryLimit is MemoryLimit, replaced by tests.
var memoryLimit = MemoryLimit

// checkMemory applies CheckMemory to each run: alone, or in a group of --group-size
// when one is given (automatic groups are sized to fit).
func checkMemory(path string, runs []sweep.Run, sets *specdata.Cache, groupSize int, dev backend.Device) error {
	limit, from := memoryLimit()
	size := max(1, min(groupSize, len(runs)))
	for _, r := range runs {
		d, err := sets.Get(r.Spec.Dataset)
		if err != nil {
			return err
		}
		if err := CheckMemory(path, r, d, size, dev, limit, from); err != nil {
			return err
		}
	}
	return nil
}
