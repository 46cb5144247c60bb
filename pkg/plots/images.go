package plots

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/sparselab/saerun/pkg/results"
)

// Row is one row of an image grid: a label (may be empty) and its images, each
// h×w grey values in [0, 1] (row-major; values outside are clipped).
type Row struct {
	Label  string
	Images [][]float32
}

// Image-grid geometry, in pixels of the composed image.
const (
	cellScale = 4 // each image pixel becomes cellScale×cellScale
	cellGap   = 2 // between images
)

// ImageGrid draws rows of h×w grey images, e.g. validation inputs above their
// reconstructions; 0 is black and 1 white.
func ImageGrid(title string, h, w int, rows ...Row) ([]byte, error) {
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("plots: ImageGrid %q: image size %d×%d", title, h, w)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("plots: ImageGrid %q: no rows", title)
	}
	cols := 0
	for r, row := range rows {
		for i, im := range row.Images {
			if len(im) != h*w {
				return nil, fmt.Errorf("plots: ImageGrid %q: row %d image %d has %d values, want %d×%d = %d", title, r, i, len(im), h, w, h*w)
			}
		}
		cols = max(cols, len(row.Images))
	}
	if cols == 0 {
		return nil, fmt.Errorf("plots: ImageGrid %q: no images", title)
	}
	cells := make([][]func(y, x int) float64, len(rows))
	labels := make([]string, len(rows))
	for r, row := range rows {
		labels[r] = row.Label
		for _, im := range row.Images {
			cells[r] = append(cells[r], func(y, x int) float64 { return float64(im[y*w+x]) })
		}
	}
	return grid(title, h, w, cols, cells, labels)
}

// Filters draws the incoming weights of each unit of a dense layer (lw.Kernel[i*Out+j]
// for input i of unit j; a trained model's weights convert: results.LayerWeights(w))
// as an h×w image, units in rows of ⌈√n⌉, for at most maxUnits
// units (0: all). Each filter is scaled by its own largest |weight|: mid-grey is 0,
// white the most positive, black the most negative weight.
func Filters(title string, lw results.LayerWeights, h, w, maxUnits int) ([]byte, error) {
	switch {
	case h < 1 || w < 1:
		return nil, fmt.Errorf("plots: Filters %q: image size %d×%d", title, h, w)
	case lw.In != h*w:
		return nil, fmt.Errorf("plots: Filters %q: layer %s has %d inputs, not %d×%d = %d", title, lw.Name, lw.In, h, w, h*w)
	case lw.Out < 1 || len(lw.Kernel) != lw.In*lw.Out:
		return nil, fmt.Errorf("plots: Filters %q: layer %s kernel has %d values, want %d×%d", title, lw.Name, len(lw.Kernel), lw.In, lw.Out)
	case maxUnits < 0:
		return nil, fmt.Errorf("plots: Filters %q: maxUnits %d", title, maxUnits)
	}
	n := lw.Out
	if maxUnits > 0 {
		n = min(n, maxUnits)
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	cells := make([][]func(y, x int) float64, (n+cols-1)/cols)
	for j := range n {
		scale := 0.0
		for i := range lw.In {
			v := float64(lw.Kernel[i*lw.Out+j])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("plots: Filters %q: weight [%d, %d] is %v", title, i, j, v)
			}
			scale = max(scale, math.Abs(v))
		}
		if scale == 0 {
			scale = 1
		}
		cells[j/cols] = append(cells[j/cols], func(y, x int) float64 {
			return 0.5 + 0.5*float64(lw.Kernel[(y*w+x)*lw.Out+j])/scale
		})
	}
	return grid(title, h, w, cols, cells, make([]string, len(cells)))
}

// grid composes cells (functions giving a cell's grey value at (y, x)) into one image,
// each pixel cellScale×cellScale, and draws it with the title and row labels.
func grid(title string, h, w, cols int, cells [][]func(y, x int) float64, labels []string) ([]byte, error) {
	cw, ch := w*cellScale+cellGap, h*cellScale+cellGap
	img := image.NewGray(image.Rect(0, 0, cols*cw+cellGap, len(cells)*ch+cellGap))
	for i := range img.Pix {
		img.Pix[i] = 200 // light background between images
	}
	for r, row := range cells {
		for c, at := range row {
			x0, y0 := cellGap+c*cw, cellGap+r*ch
			for y := range h * cellScale {
				for x := range w * cellScale {
					v := at(y/cellScale, x/cellScale)
					if math.IsNaN(v) {
						v = 0
					}
					img.SetGray(x0+x, y0+y, color.Gray{Y: uint8(math.Round(255 * min(max(v, 0), 1)))})
				}
			}
		}
	}
	p := newPlot(title, "", "")
	p.HideAxes()
	bounds := img.Bounds()
	// Data coordinates: x in [0, cols], row r centred on y = rows-1-r (NominalY ticks).
	n := float64(len(cells))
	p.Add(plotter.NewImage(img, 0, -0.5, float64(cols), n-0.5))
	margin := 0.3 * vg.Inch
	if slices.ContainsFunc(labels, func(l string) bool { return l != "" }) {
		margin = 1.2 * vg.Inch
		rev := make([]string, len(labels))
		for r, l := range labels {
			rev[len(labels)-1-r] = l
		}
		p.NominalY(rev...)
	}
	// Canvas: the composed image at about 1.5 screen pixels per pixel, plus margins.
	px := vg.Inch / 96 * 1.5
	width := vg.Length(bounds.Dx())*px + margin
	height := vg.Length(bounds.Dy())*px + 0.6*vg.Inch
	return render(p, width, height)
}
