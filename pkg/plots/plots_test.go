package plots

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparselab/saerun/pkg/results"
)

func ramp(n int, f func(i int) float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

func digit(h, w int, seed int) []float32 {
	im := make([]float32, h*w)
	for i := range im {
		im[i] = float32((i*7+seed*13)%17) / 16
	}
	return im
}

func layer(in, out int) results.LayerWeights {
	k := make([]float32, in*out)
	for i := range k {
		k[i] = float32(math.Sin(float64(i)))
	}
	return results.LayerWeights{Name: "encoder.0", In: in, Out: out, Kernel: k, Bias: make([]float32, out)}
}

func TestFiguresAreValidPNGs(t *testing.T) {
	curve := func(a float64) []float64 { return ramp(20, func(i int) float64 { return a / float64(i+1) }) }
	cases := []struct {
		name       string
		render     func() ([]byte, error)
		minW, minH int
	}{
		{"loss curves", func() ([]byte, error) {
			return LossCurves("loss", "loss", Series{"train", curve(1)}, Series{"validation", curve(1.2)}, Series{"short", curve(2)[:5]})
		}, 500, 350},
		{"image grid", func() ([]byte, error) {
			ins := [][]float32{digit(8, 8, 1), digit(8, 8, 2), digit(8, 8, 3)}
			return ImageGrid("inputs and reconstructions", 8, 8, Row{"input", ins}, Row{"output", ins[:2]})
		}, 100, 50},
		{"image grid without labels", func() ([]byte, error) {
			return ImageGrid("", 2, 3, Row{Images: [][]float32{{0, 0.5, 1, 2, -1, float32(math.NaN())}}})
		}, 20, 10},
		{"unit bars", func() ([]byte, error) {
			return UnitBars("mean activation", "ρ̂", ramp(100, func(i int) float64 { return float64(i%10) / 100 }), 0.05)
		}, 500, 350},
		{"unit bars without target", func() ([]byte, error) {
			return UnitBars("one unit", "", []float64{0.3}, math.NaN())
		}, 500, 350},
		{"histogram", func() ([]byte, error) {
			return Histogram("activations", "h", ramp(1000, func(i int) float64 { return math.Pow(float64(i)/1000, 8) }), 40)
		}, 500, 350},
		{"histogram of equal values", func() ([]byte, error) {
			return Histogram("zeros", "h", make([]float64, 10), 5)
		}, 500, 350},
		{"filters", func() ([]byte, error) { return Filters("filters", layer(64, 10), 8, 8, 0) }, 100, 50},
		{"filters capped", func() ([]byte, error) { return Filters("filters", layer(6, 100), 2, 3, 7) }, 30, 20},
		{"trade-off", func() ([]byte, error) {
			return TradeOff("trade-off", "L0", "reconstruction",
				Group{Name: "ρ=0.01", X: []float64{3, 5, 9}, Y: []float64{0.04, 0.03, 0.02}, Labels: []string{"β=3", "β=1", "β=0.3"}},
				Group{Name: "ρ=0.1", X: []float64{12, 20}, Y: []float64{0.02, 0.015}})
		}, 500, 350},
	}
	dir := os.Getenv("PLOTS_TEST_OUT") // set to look at the figures
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			im, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if s := im.Bounds().Size(); s.X < c.minW || s.Y < c.minH || s.X > 2000 || s.Y > 2000 {
				t.Errorf("size %v, want at least %d×%d and at most 2000×2000", s, c.minW, c.minH)
			}
			if dir != "" {
				if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".png"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestBadInputIsAnError(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		render func() ([]byte, error)
		want   string
	}{
		{"no series", func() ([]byte, error) { return LossCurves("t", "") }, "no series"},
		{"empty series", func() ([]byte, error) { return LossCurves("t", "", Series{Name: "a"}) }, "empty"},
		{"NaN in series", func() ([]byte, error) { return LossCurves("t", "", Series{"a", []float64{1, nan}}) }, "a[1]"},
		{"image of wrong size", func() ([]byte, error) {
			return ImageGrid("t", 8, 8, Row{Images: [][]float32{make([]float32, 64), make([]float32, 63)}})
		}, "image 1 has 63 values"},
		{"no images", func() ([]byte, error) { return ImageGrid("t", 8, 8, Row{Label: "x"}) }, "no images"},
		{"no rows", func() ([]byte, error) { return ImageGrid("t", 8, 8) }, "no rows"},
		{"zero image size", func() ([]byte, error) { return ImageGrid("t", 0, 8, Row{}) }, "image size"},
		{"no bars", func() ([]byte, error) { return UnitBars("t", "", nil, 0.1) }, "no values"},
		{"infinite target", func() ([]byte, error) { return UnitBars("t", "", []float64{1}, math.Inf(1)) }, "target"},
		{"NaN bar", func() ([]byte, error) { return UnitBars("t", "", []float64{1, nan}, 0.1) }, "values[1]"},
		{"empty histogram", func() ([]byte, error) { return Histogram("t", "", nil, 10) }, "no values"},
		{"zero bins", func() ([]byte, error) { return Histogram("t", "", []float64{1}, 0) }, "bins"},
		{"filters of wrong shape", func() ([]byte, error) { return Filters("t", layer(64, 10), 7, 7, 0) }, "64 inputs"},
		{"kernel of wrong length", func() ([]byte, error) {
			lw := layer(64, 10)
			lw.Kernel = lw.Kernel[:100]
			return Filters("t", lw, 8, 8, 0)
		}, "kernel has 100 values"},
		{"negative maxUnits", func() ([]byte, error) { return Filters("t", layer(4, 2), 2, 2, -1) }, "maxUnits"},
		{"no groups", func() ([]byte, error) { return TradeOff("t", "x", "y") }, "no groups"},
		{"x and y of different lengths", func() ([]byte, error) {
			return TradeOff("t", "x", "y", Group{Name: "g", X: []float64{1, 2}, Y: []float64{1}})
		}, "2 x values but 1 y values"},
		{"labels of wrong length", func() ([]byte, error) {
			return TradeOff("t", "x", "y", Group{Name: "g", X: []float64{1, 2}, Y: []float64{1, 2}, Labels: []string{"a"}})
		}, "1 labels"},
		{"NaN point", func() ([]byte, error) {
			return TradeOff("t", "x", "y", Group{Name: "g", X: []float64{1, 2}, Y: []float64{nan, 2}})
		}, "g.Y[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.render()
			if err == nil {
				t.Fatalf("no error (%d bytes)", len(b))
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestGroupedBarsDrawsSeriesAndRefusesBadInput(t *testing.T) {
	png, err := GroupedBars("L1 against KL", "mean activation",
		Series{Name: "L1", Values: ramp(64, func(i int) float64 { return float64(i%7) / 7 })},
		Series{Name: "KL", Values: ramp(64, func(i int) float64 { return 0.05 })})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 2000 {
		t.Errorf("not a figure: %d bytes", len(png))
	}
	if _, err := GroupedBars("none", "y"); err == nil {
		t.Error("no series accepted")
	}
	if _, err := GroupedBars("nan", "y", Series{Name: "a", Values: []float64{1, math.NaN()}}); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := GroupedBars("empty", "y", Series{Name: "a"}); err == nil {
		t.Error("empty series accepted")
	}
}
