package train

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"trashsort/atomicfile"
)

// writeCSV writes the history as Keras' CSVLogger does (one row per epoch).
func writeCSV(path string, h []EpochLog) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, "epoch,stage,loss,accuracy,val_loss,val_accuracy,lr,seconds,img_per_s,rss_mb,peak_rss_mb")
	for _, e := range h {
		fmt.Fprintf(&b, "%d,%d,%.6f,%.6f,%.6f,%.6f,%g,%.2f,%.2f,%.0f,%.0f\n", e.Epoch, e.Stage, e.Loss, e.Acc, e.ValLoss, e.ValAcc, e.LR, e.Seconds, e.ImgPerS, e.RSSMB, e.PeakRSSMB)
	}
	return atomicfile.WriteFile(path, b.Bytes())
}

// integerTicks labels whole epochs only, thinning them to about ten.
type integerTicks struct{}

// Ticks returns the ticks between min and max.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, int(math.Ceil((hi-lo)/10)))
	var ts []plot.Tick
	for v := int(math.Ceil(lo)); float64(v) <= hi; v++ {
		t := plot.Tick{Value: float64(v)}
		if (v-1)%step == 0 {
			t.Label = fmt.Sprint(v)
		}
		ts = append(ts, t)
	}
	return ts
}

// bestEpoch is the epoch with the best validation accuracy (the first of equals), as Fit keeps it.
func bestEpoch(h []EpochLog) EpochLog {
	best := h[0]
	for _, e := range h[1:] {
		if e.ValAcc > best.ValAcc {
			best = e
		}
	}
	return best
}

// curvePlot draws one quantity's train and val curves: whole-epoch ticks,
// a line where stage two starts, the best epoch marked, and the legend
// to the right of the plotting area so that it never covers a curve.
func curvePlot(h []EpochLog, title string, train, val func(EpochLog) float64) (io.WriterTo, error) {
	p := plot.New()
	p.Title.Text = title + " per epoch"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = title
	p.X.Tick.Marker = integerTicks{}
	p.X.Min, p.X.Max = 0.5, float64(len(h))+0.5
	tr, va := make(plotter.XYs, len(h)), make(plotter.XYs, len(h))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, e := range h {
		tr[i] = plotter.XY{X: float64(e.Epoch), Y: train(e)}
		va[i] = plotter.XY{X: float64(e.Epoch), Y: val(e)}
		lo, hi = min(lo, tr[i].Y, va[i].Y), max(hi, tr[i].Y, va[i].Y)
	}
	if hi == lo {
		hi = lo + 1
	}
	lt, err := plotter.NewLine(tr)
	if err != nil {
		return nil, err
	}
	lt.Width = vg.Points(1.5)
	lv, err := plotter.NewLine(va)
	if err != nil {
		return nil, err
	}
	lv.Width = vg.Points(1.5)
	lv.Color = color.RGBA{R: 200, A: 255}
	lv.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	p.Add(plotter.NewGrid(), lt, lv)
	leg := plot.NewLegend()
	leg.Add("train", lt)
	leg.Add("val", lv)
	for _, e := range h {
		if e.Stage == 2 && e.Epoch > h[0].Epoch {
			x := float64(e.Epoch) - 0.5
			s, err := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}})
			if err != nil {
				return nil, err
			}
			s.Color = color.Gray{Y: 120}
			s.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
			p.Add(s)
			leg.Add("stage 2 starts", s)
			break
		}
	}
	b := bestEpoch(h)
	mark, err := plotter.NewScatter(plotter.XYs{{X: float64(b.Epoch), Y: val(b)}})
	if err != nil {
		return nil, err
	}
	mark.Shape = draw.CircleGlyph{}
	mark.Radius = vg.Points(4)
	mark.Color = color.RGBA{R: 200, A: 255}
	p.Add(mark)
	leg.Add(fmt.Sprintf("best: epoch %d", b.Epoch), mark)
	leg.Top, leg.Left = true, true
	const w, h0, legendW = 7 * vg.Inch, 4 * vg.Inch, 1.5 * vg.Inch
	img := vgimg.New(w, h0)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
	leg.Draw(draw.Crop(dc, w-legendW+vg.Points(6), 0, 0, -vg.Points(24)))
	return vgimg.PngCanvas{Canvas: img}, nil
}

// writeLogs writes history.csv, loss.png and accuracy.png into dir.
func writeLogs(dir string, h []EpochLog) error {
	if err := writeCSV(filepath.Join(dir, "history.csv"), h); err != nil {
		return err
	}
	if len(h) == 0 {
		return nil
	}
	for _, pl := range []struct {
		file, title string
		train, val  func(EpochLog) float64
	}{
		{"loss.png", "loss", func(e EpochLog) float64 { return e.Loss }, func(e EpochLog) float64 { return e.ValLoss }},
		{"accuracy.png", "accuracy", func(e EpochLog) float64 { return e.Acc }, func(e EpochLog) float64 { return e.ValAcc }},
	} {
		wt, err := curvePlot(h, pl.title, pl.train, pl.val)
		if err != nil {
			return err
		}
		err = atomicfile.Write(filepath.Join(dir, pl.file), func(w io.Writer) error {
			_, err := wt.WriteTo(w)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
