package train

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"trashsort/atomicfile"
)

// writeCSV writes the history as Keras' CSVLogger does (one row per epoch).
func writeCSV(path string, h []EpochLog) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, "epoch,stage,loss,accuracy,val_loss,val_accuracy,lr,seconds,img_per_s")
	for _, e := range h {
		fmt.Fprintf(&b, "%d,%d,%.6f,%.6f,%.6f,%.6f,%g,%.2f,%.2f\n", e.Epoch, e.Stage, e.Loss, e.Acc, e.ValLoss, e.ValAcc, e.LR, e.Seconds, e.ImgPerS)
	}
	return atomicfile.WriteFile(path, b.Bytes())
}

// writeLogs writes history.csv, loss.png and accuracy.png into dir.
func writeLogs(dir string, h []EpochLog) error {
	if err := writeCSV(filepath.Join(dir, "history.csv"), h); err != nil {
		return err
	}
	for _, pl := range []struct {
		file, title string
		train, val  func(EpochLog) float64
	}{
		{"loss.png", "loss", func(e EpochLog) float64 { return e.Loss }, func(e EpochLog) float64 { return e.ValLoss }},
		{"accuracy.png", "accuracy", func(e EpochLog) float64 { return e.Acc }, func(e EpochLog) float64 { return e.ValAcc }},
	} {
		p := plot.New()
		p.Title.Text = pl.title + " per epoch"
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = pl.title
		tr, va := make(plotter.XYs, len(h)), make(plotter.XYs, len(h))
		for i, e := range h {
			tr[i] = plotter.XY{X: float64(e.Epoch), Y: pl.train(e)}
			va[i] = plotter.XY{X: float64(e.Epoch), Y: pl.val(e)}
		}
		lt, err := plotter.NewLine(tr)
		if err != nil {
			return err
		}
		lv, err := plotter.NewLine(va)
		if err != nil {
			return err
		}
		lv.Color = color.RGBA{R: 200, A: 255}
		lv.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(lt, lv, plotter.NewGrid())
		p.Legend.Add("train", lt)
		p.Legend.Add("val", lv)
		p.Legend.Top = pl.title == "accuracy"
		wt, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
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
