package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// UnitBars draws one bar per unit (x = unit index) and, unless target is NaN, a
// horizontal line at target: e.g. each hidden unit's mean activation ρ̂_j against the
// KL target ρ.
func UnitBars(title, yLabel string, values []float64, target float64) ([]byte, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("plots: UnitBars %q: no values", title)
	}
	if err := checkFinite("values", values); err != nil {
		return nil, err
	}
	if math.IsInf(target, 0) {
		return nil, fmt.Errorf("plots: UnitBars %q: target is %v", title, target)
	}
	p := newPlot(title, "unit", yLabel)
	p.Add(plotter.NewGrid())
	// Bars as thin as the canvas allows, at least a hairline.
	width := max(vg.Length(float64(defaultWidth)*0.8/float64(len(values))*0.8), vg.Points(0.5))
	bars, err := plotter.NewBarChart(plotter.Values(values), width)
	if err != nil {
		return nil, err
	}
	bars.Color = seriesColor(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.X.Min, p.X.Max = -1, float64(len(values))
	if !math.IsNaN(target) {
		l, err := plotter.NewLine(plotter.XYs{{X: -1, Y: target}, {X: float64(len(values)), Y: target}})
		if err != nil {
			return nil, err
		}
		l.Color = color.RGBA{R: 200, A: 255}
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("target %.3g", target), l)
		p.Legend.Top = true
	}
	p.Y.Min = min(p.Y.Min, 0)
	pad(&p.Y, 0, 0.15)
	return render(p, defaultWidth, defaultHeight)
}

// Histogram draws the distribution of values in bins equal bins with a log-scale count
// axis (empty bins are left out), so that a spike at zero and a long tail are both
// visible: e.g. the activations of a sparse layer.
func Histogram(title, xLabel string, values []float64, bins int) ([]byte, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("plots: Histogram %q: no values", title)
	}
	if bins < 1 {
		return nil, fmt.Errorf("plots: Histogram %q: %d bins (need at least 1)", title, bins)
	}
	if err := checkFinite("values", values); err != nil {
		return nil, err
	}
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil {
		return nil, err
	}
	h.LogY = true
	h.FillColor = seriesColor(0)
	p := newPlot(title, xLabel, "count (log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid(), h)
	return render(p, defaultWidth, defaultHeight)
}

// GroupedBars draws several series of per-unit values side by side (x = unit index),
// one colour per series with a legend: e.g. each unit's mean activation under an L1
// and under a KL penalty. Series may differ in length; none may be empty or hold
// NaN/Inf.
func GroupedBars(title, yLabel string, series ...Series) ([]byte, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("plots: GroupedBars %q: no series", title)
	}
	n := 0
	for _, s := range series {
		if len(s.Values) == 0 {
			return nil, fmt.Errorf("plots: GroupedBars %q: series %q is empty", title, s.Name)
		}
		if err := checkFinite(s.Name, s.Values); err != nil {
			return nil, err
		}
		n = max(n, len(s.Values))
	}
	p := newPlot(title, "unit", yLabel)
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	slot := vg.Length(float64(defaultWidth) * 0.8 / float64(n))
	width := max(slot*0.8/vg.Length(len(series)), vg.Points(0.5))
	for i, s := range series {
		bars, err := plotter.NewBarChart(plotter.Values(s.Values), width)
		if err != nil {
			return nil, err
		}
		bars.Color = seriesColor(i)
		bars.LineStyle.Width = 0
		bars.Offset = (vg.Length(i) - vg.Length(len(series)-1)/2) * width
		p.Add(bars)
		p.Legend.Add(s.Name, bars)
	}
	p.X.Min, p.X.Max = -1, float64(n)
	p.Y.Min = min(p.Y.Min, 0)
	pad(&p.Y, 0, 0.15)
	return render(p, defaultWidth, defaultHeight)
}
