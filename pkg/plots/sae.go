package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Frontier draws one line with markers per group on a log-scale x axis: the
// sparsity–fidelity frontier of sparse autoencoders (x = L0, latents active per sample;
// y = FVU), one group per activation function, points in the given order. Every x must
// be > 0 (a log axis): a run with L0 = 0 is an error naming it, not a point left out.
func Frontier(title, xLabel, yLabel string, groups ...Group) ([]byte, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("plots: Frontier %q: no groups", title)
	}
	p := newPlot(title, xLabel+" (log scale)", yLabel)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	lo, hi, err := addGroups(p, "Frontier", title, groups, true, func(i int, l *plotter.Line, s *plotter.Scatter, lb *plotter.Labels) {
		l.Dashes = plotterDashes(i)
		s.Shape = glyph(i)
		if lb != nil {
			for k := range lb.TextStyle {
				lb.TextStyle[k].Font.Size = vg.Points(7)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// A multiplicative margin on the log axis (×/÷ 1.3), at least one decade shown.
	p.X.Min, p.X.Max = lo/1.3, hi*1.3
	if p.X.Max/p.X.Min < 10 {
		mid := math.Sqrt(lo * hi)
		p.X.Min, p.X.Max = mid/math.Sqrt(10), mid*math.Sqrt(10)
	}
	p.Y.Min = math.Min(p.Y.Min, 0)
	pad(&p.Y, 0, 0.15)
	return render(p, defaultWidth, defaultHeight)
}

// glyph gives each group of a frontier its own marker shape (grey prints, overlaps).
func glyph(i int) draw.GlyphDrawer {
	switch i % 4 {
	case 1:
		return draw.SquareGlyph{}
	case 2:
		return draw.TriangleGlyph{}
	case 3:
		return draw.CrossGlyph{}
	}
	return draw.CircleGlyph{}
}

// DensityLines draws the distributions of several series as step outlines over shared
// bins (bins equal bins from the smallest to the largest value of all series), one
// colour per series with a legend, so that they can be compared on one axis: e.g.
// log10 of each latent's firing frequency, one series per activation function. The
// counts are per series (not normalised); empty series or NaN/Inf values are errors.
func DensityLines(title, xLabel string, bins int, series ...Series) ([]byte, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("plots: DensityLines %q: no series", title)
	}
	if bins < 1 {
		return nil, fmt.Errorf("plots: DensityLines %q: %d bins (need at least 1)", title, bins)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		if len(s.Values) == 0 {
			return nil, fmt.Errorf("plots: DensityLines %q: series %q is empty", title, s.Name)
		}
		if err := checkFinite(s.Name, s.Values); err != nil {
			return nil, err
		}
		for _, v := range s.Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if hi == lo {
		lo, hi = lo-0.5, hi+0.5
	}
	width := (hi - lo) / float64(bins)
	p := newPlot(title, xLabel, "count")
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, s := range series {
		counts := make([]float64, bins)
		for _, v := range s.Values {
			b := min(int((v-lo)/width), bins-1)
			counts[b]++
		}
		// The outline: up and across each bin, down to 0 at both ends.
		xys := plotter.XYs{{X: lo, Y: 0}}
		for b, c := range counts {
			x0 := lo + float64(b)*width
			xys = append(xys, plotter.XY{X: x0, Y: c}, plotter.XY{X: x0 + width, Y: c})
		}
		xys = append(xys, plotter.XY{X: hi, Y: 0})
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = seriesColor(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotterDashes(i)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d)", s.Name, len(s.Values)), l)
	}
	pad(&p.X, 0.02, 0.02)
	pad(&p.Y, 0, 0.2)
	return render(p, defaultWidth, defaultHeight)
}
