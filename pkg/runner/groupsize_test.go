package runner

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/backend"
	"github.com/sparselab/saerun/pkg/data"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
	"github.com/sparselab/saerun/pkg/train"
)

func TestDefaultGroupSizeKeepsASeed004StepWithinTheAllocatorsReuse(t *testing.T) {
	load := func(path string) *spec.Spec {
		s, _, err := spec.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The seed-004 model (784-128-64-128-784, batch 256): a group of 11 models needs a
	// 57 MB scratch area per XLA step, one of 16 needs 82 MB, past glibc's 64 MiB heaps.
	if k := MaxGroupSize(load("../../bench/specs/batched-fashion-004.yaml"), 784, backend.Device{}); k < 8 || k > 11 {
		t.Errorf("seed-004 model: default group of %d; want 8 to 11", k)
	}
	// The small digits model still fills the largest group.
	if k := MaxGroupSize(load("../../bench/specs/batched-l1-digits.yaml"), 64, backend.Device{}); k != 16 {
		t.Errorf("digits model: default group of %d; want 16", k)
	}
}

// On a GPU the budget is half the free memory: the seed-004 model fills groups of 64
// and more, as the measurements ask (bench/gpu.sh), and the CPU cap does not apply.
func TestGroupSizeOnAGPUComesFromItsFreeMemory(t *testing.T) {
	s, _, err := spec.Load("../../bench/specs/batched-fashion-004.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h200 := backend.Device{Accelerator: true, FreeBytes: 130 << 30}
	if k := MaxGroupSize(s, 784, h200); k < 64 {
		t.Errorf("seed-004 model on a GPU with 130 GiB free: group of %d, want >= 64", k)
	}
	small := backend.Device{Accelerator: true, FreeBytes: 64 << 20}
	if k := MaxGroupSize(s, 784, small); k > 8 {
		t.Errorf("64 MiB free: group of %d, want few", k)
	}
}

func TestSAEGroupSizeCountsItsLatents(t *testing.T) {
	s := &spec.Spec{Model: spec.Model{Kind: "sae", SAE: spec.SAE{Latents: 4096}}, Train: spec.Train{BatchSize: 4096}}
	if n := MaxGroupSize(s, 512, backend.Device{}); n != 1 {
		t.Errorf("a 512×4,096 SAE with batches of 4,096 on a CPU: group of %d, want 1", n)
	}
	s.Model.SAE.Latents, s.Train.BatchSize = 64, 32
	if n := MaxGroupSize(s, 64, backend.Device{}); n != 16 {
		t.Errorf("a small SAE: group of %d, want the CPU's 16", n)
	}
}

// Issue 23: an SAE of 1,048,576 latents on 2,048-d input (about 2^32 parameters, 64 GiB
// with gradients and Adam's moments) is refused before the sweep folder is written,
// with the estimate, the limit and the keys to lower, instead of dying out of memory.
func TestAModelThatCannotFitIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	memoryLimit = func() (int64, string) { return 24 << 30, "physical memory" }
	defer func() { memoryLimit = MemoryLimit }()
	const huge = `name: huge
dataset:
  name: synthetic
  synthetic: {dim: 2048, features: 4096, samples: 64, active: 4, seed: 0}
model:
  kind: sae
  sae: {latents: 1048576, activation: topk, k: 4}
loss: mse_sum
optimizer: {name: adam}
train: {epochs: 1, batch_size: 32}
`
	out := t.TempDir()
	path := writeSpec(t, huge)
	_, err := RunFile(context.Background(), path, opts(out))
	var usage *UsageError
	if !errors.As(err, &usage) {
		t.Fatalf("got %v; want a usage error (exit 2)", err)
	}
	for _, want := range []string{path, "cannot fit in memory", "32.0 GiB optimizer state", "need about 64.5 GiB", "physical memory limit of 24.0 GiB", "model.sae.latents", "train.batch_size 32"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if n := countFiles(t, out); n != 0 {
		t.Errorf("%d files written for a refused sweep", n)
	}
	// With the real limit of this machine the same spec runs when the model is small.
	memoryLimit = MemoryLimit
	small := strings.Replace(huge, "latents: 1048576", "latents: 64", 1)
	if _, err := RunFile(context.Background(), writeSpec(t, small), opts(t.TempDir())); err != nil {
		t.Errorf("a 64-latent SAE: %v", err)
	}
}

func TestMemoryCheckCountsTheGroupAndTheDevice(t *testing.T) {
	s := &spec.Spec{Model: spec.Model{Kind: "sae", SAE: spec.SAE{Latents: 1024}}, Train: spec.Train{BatchSize: 256}}
	m := ModelMemory(s, 512)
	params := int64(512*1024 + 1024 + 1024*512 + 512)
	if m.Parameters != 4*params || m.Optimizer != 8*params || m.Activations != 16*256*(1024+512+512) {
		t.Errorf("estimate %+v for %d parameters", m, params)
	}
	set := &data.Set{N: 1000, Dim: 512}
	d := train.Data{Train: set, Validation: &data.Set{N: 250, Dim: 512}}
	if DataBytes(d) != 2*4*1250*512 {
		t.Errorf("data %d bytes", DataBytes(d))
	}
	r := sweep.Run{ID: "abc", Spec: s}
	one := m.Total() + DataBytes(d)
	if err := CheckMemory("x.yaml", r, d, 1, backend.Device{}, one, "cgroup"); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	err := CheckMemory("x.yaml", r, d, 4, backend.Device{}, one, "cgroup")
	if err == nil || !strings.Contains(err.Error(), "a group of 4") || !strings.Contains(err.Error(), "--group-size") {
		t.Errorf("a group of 4 at one model's limit: %v", err)
	}
	if err := CheckMemory("x.yaml", r, d, 1, backend.Device{}, 0, ""); err != nil {
		t.Errorf("unknown limit: %v", err)
	}
	// On a GPU the models count against its memory, not the host's.
	gpu := backend.Device{Accelerator: true, Name: "tiny GPU", MemoryBytes: m.Total() - 1}
	if err := CheckMemory("x.yaml", r, d, 1, gpu, 1<<40, "physical memory"); err == nil || !strings.Contains(err.Error(), "tiny GPU's memory") {
		t.Errorf("GPU too small: %v", err)
	}
	gpu.MemoryBytes = 0 // unknown size
	if err := CheckMemory("x.yaml", r, d, 1, gpu, 1, "physical memory"); err != nil {
		t.Errorf("GPU of unknown size: %v", err)
	}
}

func TestMemoryLimitIsThePhysicalMemoryOrLess(t *testing.T) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip("no /proc/meminfo")
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	limit, from := MemoryLimit()
	if limit <= 0 || limit > kb<<10 || from == "" {
		t.Errorf("limit %d (%s); physical memory %d", limit, from, kb<<10)
	}
}
