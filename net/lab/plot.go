package lab

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots draws the report's pictures into dir, each as PNG and SVG:
// cdf (the distribution of delay over the lower bound, or of the delay
// itself where links have no bound), hops (delay against hop count) and
// timeline (each node's height through the run, partitions shaded).
func (r *Report) Plots(dir string, top *Topology) error {
	plots := map[string]*plot.Plot{}
	var err error
	if plots["cdf"], err = r.cdfPlot(); err != nil {
		return err
	}
	if plots["hops"], err = r.hopsPlot(); err != nil {
		return err
	}
	if plots["timeline"], err = r.timelinePlot(top); err != nil {
		return err
	}
	for name, p := range plots {
		for _, ext := range []string{".png", ".svg"} {
			if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, name+ext)); err != nil {
				return fmt.Errorf("lab: plot %s%s: %w", name, ext, err)
			}
		}
	}
	return nil
}

var plotColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, color.RGBA{0xbc, 0xbd, 0x22, 0xff},
	color.RGBA{0x17, 0xbe, 0xcf, 0xff},
}

// cdfXYs is the empirical distribution of xs.
func cdfXYs(xs []float64) plotter.XYs {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	pts := make(plotter.XYs, len(xs))
	for i, x := range xs {
		pts[i] = plotter.XY{X: x, Y: float64(i+1) / float64(len(xs))}
	}
	return pts
}

func (r *Report) cdfPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Y.Label.Text = "fraction of arrivals"
	p.Y.Min, p.Y.Max = 0, 1
	_, _, blockRatios, _ := Stats(r.Blocks)
	_, _, payRatios, _ := Stats(r.Payments)
	useRatio := len(blockRatios) > 0 || len(payRatios) > 0
	if useRatio {
		p.Title.Text = "Propagation: delay over the topology's lower bound"
		p.X.Label.Text = "delay / lower bound (shortest path by link delay)"
	} else {
		p.Title.Text = "Propagation delay (links have no delay: no lower bound to divide by)"
		p.X.Label.Text = "delay (ms)"
	}
	for i, s := range []struct {
		name  string
		items []Item
	}{{"blocks", r.Blocks}, {"payments", r.Payments}} {
		delays, _, ratios, _ := Stats(s.items)
		xs := delays
		if useRatio {
			xs = ratios
		}
		if len(xs) == 0 {
			continue
		}
		line, err := plotter.NewLine(cdfXYs(xs))
		if err != nil {
			return nil, err
		}
		line.Color = plotColors[i]
		line.Width = vg.Points(2)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (%d arrivals)", s.name, len(xs)), line)
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Add(plotter.NewGrid())
	return p, nil
}

func (r *Report) hopsPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Delay against hop count (shortest path by delay)"
	p.X.Label.Text = "hops from the origin"
	p.Y.Label.Text = "delay (ms)"
	for i, s := range []struct {
		name  string
		items []Item
	}{{"blocks", r.Blocks}, {"payments", r.Payments}} {
		delays, _, _, hops := Stats(s.items)
		if len(delays) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(delays))
		for j := range delays {
			// A little spread sideways so that the points of one hop count
			// do not hide each other.
			pts[j] = plotter.XY{X: float64(hops[j]) + 0.3*(float64(i)-0.5) + 0.1*math.Sin(float64(j)), Y: delays[j]}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.Color = plotColors[i]
		sc.Radius = vg.Points(2)
		sc.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(s.name, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p, nil
}

func (r *Report) timelinePlot(top *Topology) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Each node's tip height (shaded: a partition in force; dashed: a heal)"
	p.X.Label.Text = "seconds from the start"
	p.Y.Label.Text = "height"
	end := r.Stop.Sub(r.Start).Seconds()
	// Partition spans first, underneath.
	for _, span := range r.cutSpans {
		x0 := span[0].Sub(r.Start).Seconds()
		x1 := end
		if !span[1].IsZero() {
			x1 = span[1].Sub(r.Start).Seconds()
		}
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: float64(r.FinalHeight + 1)}, {X: x0, Y: float64(r.FinalHeight + 1)}})
		if err != nil {
			return nil, err
		}
		poly.Color = color.RGBA{0xff, 0xe0, 0xe0, 0xff}
		poly.Width = 0
		p.Add(poly)
	}
	for _, h := range r.Heals {
		x := h.At.Sub(r.Start).Seconds()
		line, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: float64(r.FinalHeight + 1)}})
		if err != nil {
			return nil, err
		}
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		line.Color = color.RGBA{0xc0, 0x00, 0x00, 0xff}
		p.Add(line)
	}
	for node := 1; node <= len(top.Nodes); node++ {
		var pts plotter.XYs
		for _, t := range r.tips {
			if t.node != node {
				continue
			}
			x := t.at.Sub(r.Start).Seconds()
			if x < 0 {
				x = 0
			}
			if len(pts) > 0 { // a step: the height holds until the next tip
				pts = append(pts, plotter.XY{X: x, Y: pts[len(pts)-1].Y})
			}
			pts = append(pts, plotter.XY{X: x, Y: float64(t.height)})
		}
		if len(pts) == 0 {
			continue
		}
		pts = append(pts, plotter.XY{X: end, Y: pts[len(pts)-1].Y})
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotColors[(node-1)%len(plotColors)]
		line.Width = vg.Points(1.2)
		p.Add(line)
		if len(top.Nodes) <= 16 {
			p.Legend.Add(fmt.Sprintf("node %d", node), line)
		}
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Min, p.X.Max = 0, math.Max(end, 1)
	return p, nil
}

// tipsSince keeps the tip points from shortly before start on.
func tipsSince(all []tipPoint, start time.Time) []tipPoint {
	var out []tipPoint
	last := map[int]tipPoint{}
	for _, t := range all {
		if t.at.Before(start) {
			last[t.node] = t
			continue
		}
		out = append(out, t)
	}
	var first []tipPoint
	for _, t := range last {
		t.at = start
		first = append(first, t)
	}
	return append(first, out...)
}
