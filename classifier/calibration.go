package classifier

import (
	"fmt"

	"trashsort/calibrate"
	"trashsort/tensor"
)

// PredictRaw returns the model's own (uncalibrated) class probabilities
// [N, classes] for raw images [N, Size, Size, 3] in [0, 255]; x is not
// modified. For an ensemble (LoadEnsemble) they are the mean of the
// members' calibrated probabilities. Test sizes other than x's are served
// by resizing x; PredictViews avoids that.
func (c *Classifier) PredictRaw(x *tensor.Tensor) (*tensor.Tensor, error) {
	return c.PredictViews(Views{x.Shape[1]: x})
}

// PredictViews is PredictRaw for the same images at several sizes (see
// InputSizes); each model uses the views of its test sizes, and a size
// missing from v is resized from the largest view.
func (c *Classifier) PredictViews(v Views) (*tensor.Tensor, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("classifier: no images")
	}
	if len(c.members) > 0 {
		return c.predictEnsemble(v)
	}
	return c.predictSizes(v)
}

// Temperature is the calibration temperature (1 when uncalibrated, and for
// an ensemble, whose members are calibrated one by one).
func (c *Classifier) Temperature() float64 {
	if len(c.members) > 0 {
		return 1
	}
	return c.ownTemperature()
}

func (c *Classifier) ownTemperature() float64 {
	if c.Meta.Calibration == nil || c.Meta.Calibration.Temperature <= 0 {
		return 1
	}
	return c.Meta.Calibration.Temperature
}

// MinConfidence is the stored "unsure" threshold (0 when uncalibrated); for
// an ensemble, the mean of the members' thresholds.
func (c *Classifier) MinConfidence() float64 {
	sum := 0.0
	c.each(func(m *Classifier) error {
		if m.Meta.Calibration != nil {
			sum += m.Meta.Calibration.MinConfidence
		}
		return nil
	})
	return sum / float64(c.Members())
}

// Recalibrate fits the temperature and the "unsure" threshold (for target
// accuracy on the answered images; 0: calibrate.DefaultTargetAccuracy) on
// held-out predictions, the model's raw probabilities (PredictViews) rows
// with their labels, and stores them in the model's metadata. An
// ensemble's members are calibrated one by one, so it refuses one.
func (c *Classifier) Recalibrate(probs []float32, labels []int, target float64) (calibrate.Calibration, error) {
	if len(c.members) > 0 {
		return calibrate.Calibration{}, fmt.Errorf("classifier: an ensemble's members are calibrated one by one; refit each model instead")
	}
	fit, err := calibrate.Fit(probs, labels, len(c.Meta.Classes), target)
	if err != nil {
		return fit, fmt.Errorf("classifier: fitting the calibration on %d images: %w", len(labels), err)
	}
	c.Meta.Calibration = &fit
	return fit, nil
}

// Calibrate applies the model's temperature to raw probabilities (rows of
// len(Classes) values), in place.
func (c *Classifier) Calibrate(probs []float32) {
	if len(c.members) > 0 {
		return
	}
	c.calibrateOwn(probs)
}

func (c *Classifier) calibrateOwn(probs []float32) {
	T := c.ownTemperature()
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
