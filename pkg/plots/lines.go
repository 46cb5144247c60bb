package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
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
	if _, _, err := addGroups(p, "TradeOff", title, groups, false, func(i int, l *plotter.Line, s *plotter.Scatter, lb *plotter.Labels) {
		s.Shape = draw.CircleGlyph{}
		if lb != nil {
			for k := range lb.TextStyle {
				lb.TextStyle[k].Font.Size = vg.Points(8)
			}
		}
	}); err != nil {
		return nil, err
	}
	pad(&p.X, 0.05, 0.12)
	pad(&p.Y, 0.05, 0.15)
	return render(p, defaultWidth, defaultHeight)
}

// addGroups checks groups (non-empty, as many y values and labels as x values, finite;
// x > 0 for a log axis) and adds each to p as a line with markers in its series colour,
// with its point labels; style then sets a group's look. It returns the range of x.
func addGroups(p *plot.Plot, kind, title string, groups []Group, logX bool,
	style func(i int, l *plotter.Line, s *plotter.Scatter, lb *plotter.Labels)) (lo, hi float64, err error) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, g := range groups {
		switch {
		case len(g.X) == 0:
			return 0, 0, fmt.Errorf("plots: %s %q: group %q is empty", kind, title, g.Name)
		case len(g.X) != len(g.Y):
			return 0, 0, fmt.Errorf("plots: %s %q: group %q has %d x values but %d y values", kind, title, g.Name, len(g.X), len(g.Y))
		case len(g.Labels) != 0 && len(g.Labels) != len(g.X):
			return 0, 0, fmt.Errorf("plots: %s %q: group %q has %d points but %d labels", kind, title, g.Name, len(g.X), len(g.Labels))
		}
		if err := checkFinite(g.Name+".X", g.X); err != nil {
			return 0, 0, err
		}
		if err := checkFinite(g.Name+".Y", g.Y); err != nil {
			return 0, 0, err
		}
		xys := make(plotter.XYs, len(g.X))
		for j := range g.X {
			if logX && g.X[j] <= 0 {
				return 0, 0, fmt.Errorf("plots: %s %q: group %q x[%d] = %v: a log axis needs x > 0", kind, title, g.Name, j, g.X[j])
			}
			xys[j] = plotter.XY{X: g.X[j], Y: g.Y[j]}
			lo, hi = math.Min(lo, g.X[j]), math.Max(hi, g.X[j])
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return 0, 0, err
		}
		l.Color, s.Color = seriesColor(i), seriesColor(i)
		s.Radius = vg.Points(3)
		var lb *plotter.Labels
		if len(g.Labels) > 0 {
			if lb, err = plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: g.Labels}); err != nil {
				return 0, 0, err
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].Color = seriesColor(i)
			}
			lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
		}
		style(i, l, s, lb)
		p.Add(l, s)
		p.Legend.Add(g.Name, l, s)
		if lb != nil {
			p.Add(lb)
		}
	}
	return lo, hi, nil
}
