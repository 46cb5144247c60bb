package plots

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
)

func TestFrontierAndDensityLinesDrawPNGs(t *testing.T) {
	for name, render := range map[string]func() ([]byte, error){
		"frontier": func() ([]byte, error) {
			return Frontier("L0 against FVU", "L0", "FVU",
				Group{Name: "topk", X: []float64{2, 4, 8, 16}, Y: []float64{0.3, 0.2, 0.1, 0.05}, Labels: []string{"k=2", "k=4", "k=8", "k=16"}},
				Group{Name: "relu", X: []float64{1.5, 30}, Y: []float64{0.5, 0.02}})
		},
		"frontier within one decade": func() ([]byte, error) {
			return Frontier("", "L0", "FVU", Group{Name: "one point", X: []float64{3}, Y: []float64{0.2}})
		},
		"density lines": func() ([]byte, error) {
			return DensityLines("feature density", "log10 firing frequency", 20,
				Series{"topk", ramp(100, func(i int) float64 { return -3 + float64(i)/50 })},
				Series{"relu", ramp(40, func(i int) float64 { return -1 })})
		},
	} {
		b, err := render()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		im, err := png.Decode(bytes.NewReader(b))
		if err != nil || im.Bounds().Dx() < 500 {
			t.Fatalf("%s: not a full-size PNG: %v", name, err)
		}
	}
}

func TestFrontierAndDensityLinesRefuseBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"zero L0 on a log axis", func() error {
			_, err := Frontier("f", "L0", "FVU", Group{Name: "dead", X: []float64{0, 1}, Y: []float64{1, 0.5}})
			return err
		}, `group "dead" x[0] = 0`},
		{"frontier without groups", func() error { _, err := Frontier("f", "", ""); return err }, "no groups"},
		{"mismatched lengths", func() error {
			_, err := Frontier("f", "", "", Group{Name: "g", X: []float64{1, 2}, Y: []float64{1}})
			return err
		}, "2 x values but 1 y"},
		{"empty series", func() error { _, err := DensityLines("d", "", 10, Series{"s", nil}); return err }, `series "s" is empty`},
		{"no bins", func() error { _, err := DensityLines("d", "", 0, Series{"s", []float64{1}}); return err }, "0 bins"},
	} {
		if err := c.err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
