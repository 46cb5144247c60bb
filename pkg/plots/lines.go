package plots

import (
	"fmt"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named curve over epochs: Values[i] is the value after epoch i+1.
type Series struct {
	Name   string
	Values []float64
}

// LossCurves draws each series against the epoch (from 1), with a legend.
// Series may have different lengths (a diverged run stops early) but none may be empty
// or hold NaN/Inf.
func LossCurves(title, yLabel string, series ...Series) ([]byte, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("plots: LossCurves %q: no series", title)
	}
	p := newPlot(title, "epoch", yLabel)
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, s := range series {
		if len(s.Values) == 0 {
			return nil, fmt.Errorf("plots: LossCurves %q: series %q is empty", title, s.Name)
		}
		if err := checkFinite(s.Name, s.Values); err != nil {
			return nil, err
		}
		xys := make(plotter.XYs, len(s.Values))
		for e, v := range s.Values {
			xys[e] = plotter.XY{X: float64(e + 1), Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = seriesColor(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotterDashes(i)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	pad(&p.Y, 0.02, 0.15)
	return render(p, defaultWidth, defaultHeight)
}

// plotterDashes makes the second half of a palette cycle distinguishable in grey prints.
func plotterDashes(i int) []vg.Length {
	if i%2 == 1 {
		return []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return nil
}

// Group is one series of a trade-off plot: points (X[i], Y[i]), joined in the given
// order, with an optional label per point (Labels empty or len(X) long).
type Group struct {
	Name   string
	X, Y   []float64
	Labels []string
}

// TradeOff draws one line with markers per group, e.g. x = sparsity (L0 or mean
// activation), y = reconstruction loss, one group per target ρ with the points
// labelled by β.
func TradeOff(title, xLabel, yLabel string, groups ...Group) ([]byte, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("plots: TradeOff %q: no groups", title)
	}
	p := newPlot(title, xLabel, yLabel)
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, g := range groups {
		switch {
		case len(g.X) == 0:
			return nil, fmt.Errorf("plots: TradeOff %q: group %q is empty", title, g.Name)
		case len(g.X) != len(g.Y):
			return nil, fmt.Errorf("plots: TradeOff %q: group %q has %d x values but %d y values", title, g.Name, len(g.X), len(g.Y))
		case len(g.Labels) != 0 && len(g.Labels) != len(g.X):
			return nil, fmt.Errorf("plots: TradeOff %q: group %q has %d points but %d labels", title, g.Name, len(g.X), len(g.Labels))
		}
		if err := checkFinite(g.Name+".X", g.X); err != nil {
			return nil, err
		}
		if err := checkFinite(g.Name+".Y", g.Y); err != nil {
			return nil, err
		}
		xys := make(plotter.XYs, len(g.X))
		for j := range g.X {
			xys[j] = plotter.XY{X: g.X[j], Y: g.Y[j]}
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		l.Color, s.Color = seriesColor(i), seriesColor(i)
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		p.Add(l, s)
		p.Legend.Add(g.Name, l, s)
		if len(g.Labels) > 0 {
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: g.Labels})
			if err != nil {
				return nil, err
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].Color = seriesColor(i)
				lb.TextStyle[k].Font.Size = vg.Points(8)
			}
			lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
			p.Add(lb)
		}
	}
	pad(&p.X, 0.05, 0.12)
	pad(&p.Y, 0.05, 0.15)
	return render(p, defaultWidth, defaultHeight)
}
