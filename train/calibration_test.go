package train

import (
	"context"
	"math"
	"testing"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
)

// checkCalibration checks the calibration a trained model file holds
// against the model's own raw predictions on the validation split: the
// temperature lowers the NLL, and the recorded ECE, coverage and accuracy
// are what the predictions give.
func checkCalibration(t *testing.T, clf *classifier.Classifier, va *data.Dataset) {
	t.Helper()
	c := clf.Meta.Calibration
	if c == nil {
		t.Fatal("the model file holds no calibration")
	}
	l, err := data.NewLoader(va, data.Config{Size: clf.Meta.Size, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	var probs []float32
	var labels []int
	ch, errf := l.Epoch(context.Background(), 0)
	for b := range ch {
		p, err := clf.PredictRaw(b.X)
		if err != nil {
			t.Fatal(err)
		}
		probs = append(probs, p.Data...)
		labels = append(labels, b.Labels...)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	k := len(clf.Meta.Classes)
	if n1, nT := calibrate.NLL(probs, labels, k, 1), calibrate.NLL(probs, labels, k, c.Temperature); nT > n1+1e-6 {
		t.Errorf("temperature %.3f raises the val NLL from %.4f to %.4f", c.Temperature, n1, nT)
	}
	if e := calibrate.ECE(probs, labels, k); math.Abs(e-c.ECEBefore) > 2e-3 {
		t.Errorf("recorded ECE before %.4f, the model gives %.4f", c.ECEBefore, e)
	}
	scaled := calibrate.Scale(probs, k, c.Temperature)
	cov, acc := calibrate.At(scaled, labels, k, c.MinConfidence)
	if math.Abs(cov-c.Coverage) > 1e-9 || math.Abs(acc-c.AnsweredAccuracy) > 1e-9 {
		t.Errorf("threshold %.3f: recorded coverage %.3f accuracy %.3f, the model gives %.3f %.3f", c.MinConfidence, c.Coverage, c.AnsweredAccuracy, cov, acc)
	}
	t.Logf("calibration: T %.3f, ECE %.4f -> %.4f, unsure below %.3f, coverage %.3f, answered accuracy %.3f",
		c.Temperature, c.ECEBefore, c.ECEAfter, c.MinConfidence, c.Coverage, c.AnsweredAccuracy)
}
