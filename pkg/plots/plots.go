// Package plots renders the figures of the notebooks as PNG bytes: loss curves, grids
// of images (inputs and reconstructions, encoder filters), per-unit bar charts,
// log-scale histograms and sparsity / reconstruction trade-offs.
//
// It exists so that a notebook cell is one call (gonbui.DisplayPNG(plots.X(...)))
// rather than a page of plotting code, and so that the figures are tested like any
// other code. It is built on gonum.org/v1/plot and renders offline: text uses the
// fonts embedded in gonum's dependencies, nothing is fetched. Every function checks its
// input (lengths, shapes, finite values) and returns an error rather than a wrong or
// empty figure; the functions know nothing about training, only about numbers.
package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Figure sizes (at 96 dpi: 576×384 pixels for the default).
const (
	defaultWidth  = 6 * vg.Inch
	defaultHeight = 4 * vg.Inch
)

// newPlot returns a plot with a title and axis labels.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	return p
}

// render draws p on a w×h canvas and encodes it as PNG. gonum panics on some
// degenerate inputs; those become errors.
func render(p *plot.Plot, w, h vg.Length) (png []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plots: rendering %q failed: %v", p.Title.Text, r)
		}
	}()
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pad widens an axis range by frac of its span on each side (linear axes only), so
// that points on the edge and the legend are not clipped or covered.
func pad(a *plot.Axis, lo, hi float64) {
	span := a.Max - a.Min
	if span == 0 {
		span = math.Max(math.Abs(a.Max), 1)
	}
	a.Min -= lo * span
	a.Max += hi * span
}

// seriesColor returns the i-th colour of the palette (opaque).
func seriesColor(i int) color.Color { return plotutil.Color(i) }

// checkFinite returns an error naming what and the index of the first NaN or Inf.
func checkFinite(what string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("plots: %s[%d] is %v", what, i, x)
		}
	}
	return nil
}
