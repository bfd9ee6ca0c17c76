package classifier

import (
	"trashsort/calibrate"
	"trashsort/tensor"
)

// PredictRaw returns the model's own (uncalibrated) class probabilities
// [N, classes] for raw images [N, Size, Size, 3] in [0, 255]; x is not modified.
func (c *Classifier) PredictRaw(x *tensor.Tensor) (*tensor.Tensor, error) {
	in := x.Clone()
	c.Preprocess(in.Data)
	return c.Model.Forward(in, false)
}

// Temperature is the calibration temperature (1 when uncalibrated).
func (c *Classifier) Temperature() float64 {
	if c.Meta.Calibration == nil || c.Meta.Calibration.Temperature <= 0 {
		return 1
	}
	return c.Meta.Calibration.Temperature
}

// MinConfidence is the stored "unsure" threshold (0 when uncalibrated).
func (c *Classifier) MinConfidence() float64 {
	if c.Meta.Calibration == nil {
		return 0
	}
	return c.Meta.Calibration.MinConfidence
}

// Calibrate applies the model's temperature to raw probabilities (rows of
// len(Classes) values), in place.
func (c *Classifier) Calibrate(probs []float32) {
	T := c.Temperature()
	if T == 1 {
		return
	}
	copy(probs, calibrate.Scale(probs, len(c.Meta.Classes), T))
}

// Unsure is the label given instead of a class when the top confidence is
// below the threshold.
const Unsure = "unsure"

// Threshold resolves an "unsure" threshold option: 0 means the model's
// stored threshold, a negative value never unsure (0), anything else itself.
func (c *Classifier) Threshold(option float64) float64 {
	switch {
	case option == 0:
		return c.MinConfidence()
	case option < 0:
		return 0
	}
	return option
}

// Label is the answer for calibrated probabilities (one row) at threshold:
// the top class, or Unsure when its probability is below the threshold.
// It also returns the top class index.
func (c *Classifier) Label(probs []float32, threshold float64) (string, int) {
	best := 0
	for i, p := range probs {
		if p > probs[best] {
			best = i
		}
	}
	if float64(probs[best]) < threshold {
		return Unsure, best
	}
	return c.Meta.Classes[best], best
}
