package export

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/runner"
	"github.com/sparselab/saerun/pkg/trained"
)

// sweeps trains a jumprelu SAE, a batchtopk SAE and an autoencoder (each its own
// sweep) into dir.
func sweeps(t *testing.T, dir string) map[string]*results.Sweep {
	t.Helper()
	specs := map[string]string{
		"sae-jumprelu":  `model: {kind: sae, sae: {latents: 16, activation: jumprelu, l0_coefficient: 0.001, normalize: unit_mean_squared_norm}}`,
		"sae-batchtopk": `model: {kind: sae, sae: {latents: 16, activation: batchtopk, k: 3}}`,
		"ae":            `model: {encoder: [{units: 5, activation: relu}], decoder: [{activation: linear}]}`,
	}
	out := map[string]*results.Sweep{}
	for name, model := range specs {
		loss := "mse_sum"
		if name == "ae" {
			loss = "mse"
		}
		text := "name: " + name + `
dataset: {name: synthetic, synthetic: {dim: 8, features: 12, samples: 300, active: 2, seed: 1}}
` + model + `
loss: ` + loss + `
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 32, seed: 1}
`
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if sum, err := runner.RunFile(context.Background(), path, runner.Options{Out: dir, Backend: "go", Log: &log}); err != nil || sum.Completed != 1 {
			t.Fatalf("%s: %v\n%s", name, err, log.String())
		}
		sw, err := results.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = sw
	}
	return out
}

func onlyRun(t *testing.T, sw *results.Sweep) string {
	t.Helper()
	runs, err := sw.Runs(results.Filter{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %d %v", len(runs), err)
	}
	return runs[0].RunID
}

// The saelens folder holds cfg.json with SAELens' architecture and sizes and the
// safetensors with SAELens' tensor names and shapes, equal to the run's weights (a
// batchtopk's one threshold on every latent); an autoencoder in the safetensors
// format names every layer's kernel and bias and its config lists the layers.
func TestExportWritesSAELensFoldersAndLayerSafetensorsOfTheRunsWeights(t *testing.T) {
	dir := t.TempDir()
	sws := sweeps(t, dir)
	for name, want := range map[string]string{"sae-jumprelu": "jumprelu", "sae-batchtopk": "jumprelu"} {
		sw := sws[name]
		id := onlyRun(t, sw)
		out := filepath.Join(dir, "out-"+name)
		done, err := Export(sw, Options{Out: out})
		if err != nil || len(done) != 1 || done[0].Format != "saelens" || done[0].Architecture != want {
			t.Fatalf("%s: %+v %v", name, done, err)
		}
		var cfg map[string]any
		raw, err := os.ReadFile(filepath.Join(out, id, "cfg.json"))
		if err != nil || json.Unmarshal(raw, &cfg) != nil {
			t.Fatalf("%s: cfg.json: %v", name, err)
		}
		if cfg["architecture"] != want || cfg["d_in"] != 8.0 || cfg["d_sae"] != 16.0 || cfg["normalize_activations"] != "none" {
			t.Errorf("%s: cfg %v", name, cfg)
		}
		ts, meta, err := ReadSafetensors(filepath.Join(out, id, "sae_weights.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if meta["saerun_run_id"] != id {
			t.Errorf("%s: metadata %v", name, meta)
		}
		m, err := trained.Load(sw, id)
		if err != nil {
			t.Fatal(err)
		}
		for tname, c := range map[string]struct {
			shape []int
			data  []float32
		}{"W_enc": {[]int{8, 16}, m.Layers[0].Kernel}, "b_enc": {[]int{16}, m.Layers[0].Bias},
			"W_dec": {[]int{16, 8}, m.Layers[1].Kernel}, "b_dec": {[]int{8}, m.Layers[1].Bias}} {
			if !slices.Equal(ts[tname].Shape, c.shape) || !slices.Equal(ts[tname].Data, c.data) {
				t.Errorf("%s: %s shape %v, want %v (values equal: %v)", name, tname, ts[tname].Shape, c.shape, slices.Equal(ts[tname].Data, c.data))
			}
		}
		th := ts["threshold"].Data
		if len(th) != 16 {
			t.Fatalf("%s: threshold of %d values", name, len(th))
		}
		if name == "sae-batchtopk" {
			for _, v := range th {
				if v != m.Threshold()[0] {
					t.Fatalf("batchtopk threshold %v, want %v on every latent", th, m.Threshold()[0])
				}
			}
		} else if !slices.Equal(th, m.Threshold()) {
			t.Errorf("jumprelu thresholds %v, want %v", th, m.Threshold())
		}
	}
	sw := sws["ae"]
	id := onlyRun(t, sw)
	out := filepath.Join(dir, "out-ae")
	done, err := Export(sw, Options{Out: out, Runs: []string{id}})
	if err != nil || len(done) != 1 || done[0].Format != "safetensors" {
		t.Fatalf("ae: %+v %v", done, err)
	}
	ts, _, err := ReadSafetensors(filepath.Join(out, id, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := trained.Load(sw, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if !slices.Equal(ts[l.Name+".kernel"].Data, l.Kernel) || !slices.Equal(ts[l.Name+".kernel"].Shape, []int{l.In, l.Out}) || !slices.Equal(ts[l.Name+".bias"].Data, l.Bias) {
			t.Errorf("ae: layer %s differs from the run's weights", l.Name)
		}
	}
	var cfg struct {
		Layers []struct {
			Name, Activation string
			In, Out          int
		}
	}
	raw, _ := os.ReadFile(filepath.Join(out, id, "config.json"))
	if err := json.Unmarshal(raw, &cfg); err != nil || len(cfg.Layers) != 2 || cfg.Layers[0].Activation != "relu" || cfg.Layers[1].Out != 8 {
		t.Errorf("ae config.json: %+v %v", cfg, err)
	}
}

// Export refuses, before writing anything: an unknown run id, a run id with odd
// characters (a path), an autoencoder in the saelens format, an --out that holds
// files, an unknown format.
func TestExportRefusesUnknownRunsOddIDsAutoencodersAsSAELensAndAFullOut(t *testing.T) {
	dir := t.TempDir()
	sws := sweeps(t, dir)
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o644)
	aeID := onlyRun(t, sws["ae"])
	for _, c := range []struct {
		name string
		sw   *results.Sweep
		o    Options
		want string
	}{
		{"unknown run", sws["sae-jumprelu"], Options{Runs: []string{"0123abcd"}}, "no run 0123abcd"},
		{"odd characters", sws["sae-jumprelu"], Options{Runs: []string{"../../etc"}}, `"../../etc"`},
		{"autoencoder as saelens", sws["ae"], Options{Runs: []string{aeID}, Format: "saelens"}, "--format saelens writes sparse autoencoders"},
		{"unknown format", sws["ae"], Options{Format: "onnx"}, `"onnx"`},
	} {
		out := filepath.Join(dir, "refused-"+strings.ReplaceAll(c.name, " ", "-"))
		c.o.Out = out
		if _, err := Export(c.sw, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: wrote %s", c.name, out)
		}
	}
	if _, err := Export(sws["ae"], Options{Out: full}); err == nil || !strings.Contains(err.Error(), "holds 1 files") {
		t.Errorf("an --out with files: %v", err)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the full --out now holds %d entries", len(entries))
	}
}

// A safetensors file round-trips; a truncated or lying header is refused.
func TestSafetensorsRoundTripAndDamagedFilesAreRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	in := []Tensor{{"b", []int{2}, []float32{1, -2}}, {"a", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6.5}}}
	if err := WriteSafetensors(path, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if n := int(raw[0]) | int(raw[1])<<8; (n+8)%8 != 0 {
		t.Errorf("header length %d not padded to 8", n)
	}
	got, meta, err := ReadSafetensors(path)
	if err != nil || meta["k"] != "v" || !slices.Equal(got["a"].Data, in[1].Data) || !slices.Equal(got["b"].Shape, []int{2}) {
		t.Fatalf("round trip: %v %v %v", got, meta, err)
	}
	if err := WriteSafetensors(path, []Tensor{{"a", []int{3}, []float32{1}}}, nil); err == nil {
		t.Error("a shape that does not fit its values was written")
	}
	os.WriteFile(path, raw[:len(raw)-4], 0o644)
	if _, _, err := ReadSafetensors(path); err == nil {
		t.Error("a truncated file was read")
	}
	os.WriteFile(path, append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, raw[8:]...), 0o644)
	if _, _, err := ReadSafetensors(path); err == nil {
		t.Error("a header longer than the file was read")
	}
}
