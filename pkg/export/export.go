// Package export writes trained runs of a results folder in formats other tools load:
//   - saelens: per SAE run a folder that SAELens (6.54.12) loads with
//     SAE.load_from_disk: cfg.json and sae_weights.safetensors with SAELens'
//     architecture and tensor names (W_enc [d_in, d_sae], b_enc [d_sae], W_dec
//     [d_sae, d_in], b_dec [d_in], a jumprelu's threshold [d_sae]). relu is
//     "standard", topk "topk" (k), jumprelu "jumprelu"; batchtopk and
//     matryoshka_batchtopk are saved as "jumprelu" with their one learned threshold on
//     every latent, as SAELens and dictionary_learning save a BatchTopK SAE for
//     inference (SAELens 6.54.12 has no inference class for either). The weights are in
//     the data's own units (an input scale is folded in), so normalize_activations is
//     "none".
//   - safetensors: any run (autoencoder, vae, sae): model.safetensors with
//     "<layer>.kernel" [in, out], "<layer>.bias" [out] (and "<layer>.threshold"), and
//     config.json naming the layers in order with their sizes and activations.
package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/sparselab/saerun/pkg/results"
	"github.com/sparselab/saerun/pkg/trained"
)

// Formats are the values of Options.Format ("auto": saelens for an SAE, else
// safetensors).
var Formats = []string{"auto", "saelens", "safetensors"}

// SAELensVersion is the SAELens release the saelens format is written for (and tested
// with: scripts/setup-saelens.sh).
const SAELensVersion = "6.54.12"

// Options say what Export writes.
type Options struct {
	Runs   []string // run ids; empty: every completed run of the folder
	Format string   // one of Formats ("" is auto)
	Out    string   // a folder that does not exist or is empty; one subfolder per run
}

// Exported is one run's folder.
type Exported struct {
	RunID, Format, Architecture, Dir string
}

var runIDChars = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Export writes each run's folder under o.Out, named by its run id. It refuses an
// unknown format, an --out holding files, a run id that is not in the folder (or has
// characters no run id has), and a non-SAE run in the saelens format, before writing
// anything.
func Export(sw *results.Sweep, o Options) ([]Exported, error) {
	if o.Format == "" {
		o.Format = "auto"
	}
	if !slices.Contains(Formats, o.Format) {
		return nil, fmt.Errorf("export: format %q: want one of %v", o.Format, Formats)
	}
	if o.Out == "" {
		return nil, errors.New("export: no output folder (--out DIR)")
	}
	if entries, err := os.ReadDir(o.Out); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("export: --out %s exists and holds %d files or folders: give a new or empty folder", o.Out, len(entries))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("export: --out: %w", err)
	}
	statuses, err := sw.Statuses()
	if err != nil {
		return nil, err
	}
	ids := o.Runs
	if len(ids) == 0 {
		for id, st := range statuses {
			if st == "completed" {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		if len(ids) == 0 {
			return nil, fmt.Errorf("export: %s has no completed run", sw.Dir)
		}
	}
	var models []*trained.Model
	seen := map[string]bool{}
	for _, id := range ids {
		if !runIDChars.MatchString(id) {
			return nil, fmt.Errorf("export: run id %q: run ids have only letters, digits, '-' and '_'", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("export: run %s named twice", id)
		}
		seen[id] = true
		if _, ok := statuses[id]; !ok {
			return nil, fmt.Errorf("export: no run %s in %s", id, sw.Dir)
		}
		m, err := trained.Load(sw, id)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if o.Format == "saelens" && m.Kind != "sae" {
			return nil, fmt.Errorf("export: run %s is a model.kind %s: --format saelens writes sparse autoencoders (kind sae) only; use --format safetensors", id, m.Kind)
		}
		models = append(models, m)
	}
	if err := os.MkdirAll(o.Out, 0o777); err != nil {
		return nil, fmt.Errorf("export: --out: %w", err)
	}
	var out []Exported
	for _, m := range models {
		format := o.Format
		if format == "auto" {
			format = "safetensors"
			if m.Kind == "sae" {
				format = "saelens"
			}
		}
		e, err := write(sw, m, format, o.Out)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// write writes m's folder in a temporary folder beside it, then renames it into place,
// so that a folder named by a run id is complete.
func write(sw *results.Sweep, m *trained.Model, format, out string) (Exported, error) {
	e := Exported{RunID: m.RunID, Format: format, Dir: filepath.Join(out, m.RunID)}
	tmp, err := os.MkdirTemp(out, ".export-"+m.RunID+"-")
	if err != nil {
		return e, fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(tmp)
	meta := map[string]string{"saerun_run_id": m.RunID, "saerun_sweep": filepath.Base(sw.Dir), "saerun_epoch": strconv.Itoa(m.Epoch), "saerun_kind": m.Kind}
	var cfg any
	var weights string
	var tensors []Tensor
	switch format {
	case "saelens":
		e.Architecture, cfg, tensors = saeLens(m, filepath.Base(sw.Dir))
		weights = "sae_weights.safetensors"
		if err := writeJSON(filepath.Join(tmp, "cfg.json"), cfg); err != nil {
			return e, err
		}
	default:
		e.Architecture, cfg, tensors = generic(m)
		weights = "model.safetensors"
		if err := writeJSON(filepath.Join(tmp, "config.json"), cfg); err != nil {
			return e, err
		}
	}
	if err := WriteSafetensors(filepath.Join(tmp, weights), tensors, meta); err != nil {
		return e, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return e, err
	}
	if err := os.Rename(tmp, e.Dir); err != nil {
		return e, fmt.Errorf("export: %w", err)
	}
	return e, nil
}

// saeLens is m in SAELens' names: its architecture, cfg.json and tensors.
func saeLens(m *trained.Model, sweep string) (string, map[string]any, []Tensor) {
	enc, dec := m.Layers[0], m.Layers[1]
	arch := map[string]string{"relu": "standard", "topk": "topk", "jumprelu": "jumprelu",
		"batchtopk": "jumprelu", "matryoshka_batchtopk": "jumprelu"}[m.Activation]
	cfg := map[string]any{
		"architecture": arch, "d_in": m.D, "d_sae": m.L, "dtype": "float32", "device": "cpu",
		"apply_b_dec_to_input": true, "normalize_activations": "none", "reshape_activations": "none",
		"metadata": map[string]any{
			"sae_lens_version": SAELensVersion, "sae_lens_training_version": nil,
			"saerun_run_id": m.RunID, "saerun_sweep": sweep, "saerun_epoch": m.Epoch,
			"saerun_activation": m.Activation,
		},
	}
	tensors := []Tensor{
		{"W_enc", []int{m.D, m.L}, enc.Kernel}, {"b_enc", []int{m.L}, enc.Bias},
		{"W_dec", []int{m.L, m.D}, dec.Kernel}, {"b_dec", []int{m.D}, dec.Bias},
	}
	switch m.Activation {
	case "topk":
		cfg["k"], cfg["rescale_acts_by_decoder_norm"] = m.K, false
	case "jumprelu":
		tensors = append(tensors, Tensor{"threshold", []int{m.L}, enc.Threshold})
	case "batchtopk", "matryoshka_batchtopk":
		th := make([]float32, m.L)
		for j := range th {
			th[j] = enc.Threshold[0]
		}
		tensors = append(tensors, Tensor{"threshold", []int{m.L}, th})
	}
	return arch, cfg, tensors
}

// generic is m as layers: config.json and tensors named by layer.
func generic(m *trained.Model) (string, map[string]any, []Tensor) {
	var layers []map[string]any
	var tensors []Tensor
	for i, l := range m.Layers {
		layers = append(layers, map[string]any{"name": l.Name, "in": l.In, "out": l.Out, "activation": m.Activations[i]})
		tensors = append(tensors, Tensor{l.Name + ".kernel", []int{l.In, l.Out}, l.Kernel}, Tensor{l.Name + ".bias", []int{l.Out}, l.Bias})
		if len(l.Threshold) > 0 {
			tensors = append(tensors, Tensor{l.Name + ".threshold", []int{len(l.Threshold)}, l.Threshold})
		}
	}
	cfg := map[string]any{
		"format": "saerun", "run_id": m.RunID, "kind": m.Kind, "epoch": m.Epoch,
		"input_size": m.D, "code_layer": m.Layers[m.Code].Name, "layers": layers,
		"kernel_layout": "in x out, row-major: y = f(x·kernel + bias)",
		"spec":          m.Spec,
	}
	if m.Kind == "sae" {
		cfg["sae"] = map[string]any{"activation": m.Activation, "k": m.K,
			"forward": "z = (x - decoder.0.bias)·encoder.0.kernel + encoder.0.bias; h = f(z); x̂ = h·decoder.0.kernel + decoder.0.bias"}
	}
	return m.Kind, cfg, tensors
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o666)
}
