package evaluate

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"trashsort/atomicfile"
	"trashsort/calibrate"
)

// Calibration is how well the confidences match the accuracy, and what the
// "unsure" threshold costs and gains: the model's stored temperature and
// threshold measured on the evaluated images (calibrate.Measure; no
// TargetAccuracy), with the diagrams.
type Calibration struct {
	calibrate.Calibration
	// Answered images reach MinConfidence (Coverage of all).
	Answered int `json:"answered"`
	// Before and After are the reliability diagram's bins.
	Before []calibrate.Bin `json:"reliability_before"`
	After  []calibrate.Bin `json:"reliability_after"`
	// RiskCoverage is accuracy on the answered images for every threshold.
	RiskCoverage []calibrate.Point `json:"risk_coverage"`
}

func measureCalibration(raw []float32, labels []int, k int, T, threshold float64) Calibration {
	scaled := calibrate.Scale(raw, k, T)
	c := Calibration{Calibration: calibrate.Measure(raw, labels, k, T, threshold),
		Before: calibrate.Reliability(raw, labels, k, calibrate.Bins), After: calibrate.Reliability(scaled, labels, k, calibrate.Bins),
		RiskCoverage: calibrate.RiskCoverage(scaled, labels, k)}
	c.Answered = int(c.Coverage*float64(len(labels)) + 0.5)
	return c
}

func savePlot(p *plot.Plot, path string, w, h vg.Length) error {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(f io.Writer) error {
		_, err := wt.WriteTo(f)
		return err
	})
}

// WriteReliabilityPNG draws the reliability diagram: accuracy against mean
// confidence per bin, before and after temperature scaling, with the
// diagonal of perfect calibration.
func (r *Report) WriteReliabilityPNG(path string) error {
	c := r.Calibration
	p := plot.New()
	p.Title.Text = fmt.Sprintf("reliability: ECE %.3f raw, %.3f at temperature %.2f", c.ECEBefore, c.ECEAfter, c.Temperature)
	p.X.Label.Text = "confidence (top-1)"
	p.Y.Label.Text = "accuracy"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	diag.Color = color.Gray{Y: 150}
	diag.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(plotter.NewGrid(), diag)
	p.Legend.Add("perfect", diag)
	for _, s := range []struct {
		name string
		bins []calibrate.Bin
		col  color.Color
		dot  draw.GlyphDrawer
	}{
		{"raw", c.Before, color.RGBA{R: 200, G: 60, B: 40, A: 255}, draw.CircleGlyph{}},
		{"calibrated", c.After, color.RGBA{R: 30, G: 90, B: 200, A: 255}, draw.SquareGlyph{}},
	} {
		var xy plotter.XYs
		for _, b := range s.bins {
			if b.Count > 0 {
				xy = append(xy, plotter.XY{X: b.Confidence, Y: b.Accuracy})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color, pts.Shape = s.col, s.col, s.dot
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return savePlot(p, path, 5*vg.Inch, 5*vg.Inch)
}

// WriteRiskCoveragePNG draws accuracy on the answered images against the
// share answered, with the "unsure" threshold marked.
func (r *Report) WriteRiskCoveragePNG(path string) error {
	c := r.Calibration
	p := plot.New()
	p.Title.Text = "answered share vs accuracy on it"
	p.X.Label.Text = "coverage (share of images answered)"
	p.Y.Label.Text = "accuracy on answered images"
	p.X.Min, p.X.Max, p.Y.Max = 0, 1, 1
	var xy plotter.XYs
	for _, pt := range c.RiskCoverage {
		xy = append(xy, plotter.XY{X: pt.Coverage, Y: pt.Accuracy})
	}
	p.Add(plotter.NewGrid())
	if len(xy) > 0 {
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 30, G: 90, B: 200, A: 255}
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("all thresholds", l)
	}
	mark, err := plotter.NewScatter(plotter.XYs{{X: c.Coverage, Y: c.AnsweredAccuracy}})
	if err != nil {
		return err
	}
	mark.Shape = draw.CircleGlyph{}
	mark.Radius = vg.Points(5)
	mark.Color = color.RGBA{R: 200, G: 60, B: 40, A: 255}
	p.Add(mark)
	p.Legend.Add(fmt.Sprintf("unsure below %.2f: %.0f%% answered, %.1f%% right", c.MinConfidence, 100*c.Coverage, 100*c.AnsweredAccuracy), mark)
	p.Legend.Top = false
	p.Legend.Left = true
	return savePlot(p, path, 6*vg.Inch, 4*vg.Inch)
}
