package classifier

import (
	"fmt"

	"trashsort/tensor"
)

// Int8Bounds are the error bounds ChooseInt8MaxErr tries, largest (every
// calibrated convolution in int8) first; the last is nn.DefaultInt8MaxErr.
var Int8Bounds = []float32{1, 0.05, 0.02, 0.01}

// Int8Check is how int8 inference under one error bound compared with
// float32 on held-out images.
type Int8Check struct {
	MaxErr     float32 // the bound
	Layers     int     // convolutions run in int8 under it
	Calibrated int     // convolutions calibrated
	Agree      int     // images whose top-1 class matched float32's
	Images     int
}

// Agreement is the fraction of images whose top-1 class matched float32's.
func (k Int8Check) Agreement() float64 { return float64(k.Agree) / float64(max(k.Images, 1)) }

// ChooseInt8MaxErr picks, after CalibrateInt8 and TuneInt8, the error bound
// that --int8 uses by default: the largest of bounds (tried in the order
// given, largest first) whose int8 top-1 predictions on x (raw images [N,
// Size, Size, 3] in [0, 255], held out from calibration; not modified)
// match float32's on at least minAgree of them, as accuracy-aware
// post-training quantization tools do. When none does, the last bound is
// kept. The choice is stored in Meta.Int8MaxErr (and saved with the
// model); the checks made are returned, in order.
func (c *Classifier) ChooseInt8MaxErr(x *tensor.Tensor, bounds []float32, minAgree float64, batch int) (float32, []Int8Check, error) {
	if len(bounds) == 0 {
		return 0, nil, fmt.Errorf("classifier: no int8 error bounds to try")
	}
	if len(c.members) > 0 {
		return 0, nil, fmt.Errorf("classifier: choose the int8 bound of each ensemble member on its own")
	}
	if len(c.Meta.Int8) == 0 {
		return 0, nil, fmt.Errorf("classifier: the model has no int8 calibration to check")
	}
	wasInt8, wasErr := c.Model.Int8, c.Model.Int8MaxErr
	defer func() { c.Model.Int8, c.Model.Int8MaxErr = wasInt8, wasErr }()
	c.Model.Int8 = false
	ref, err := c.top1(x, batch)
	if err != nil {
		return 0, nil, err
	}
	var checks []Int8Check
	for _, b := range bounds {
		c.Model.Int8, c.Model.Int8MaxErr = true, b
		got, err := c.top1(x, batch)
		if err != nil {
			return 0, nil, err
		}
		k := Int8Check{MaxErr: b, Images: len(ref)}
		k.Layers, k.Calibrated = c.Model.Int8Layers()
		for i := range ref {
			if got[i] == ref[i] {
				k.Agree++
			}
		}
		checks = append(checks, k)
		if k.Agreement() >= minAgree {
			c.Meta.Int8MaxErr = b
			return b, checks, nil
		}
	}
	last := bounds[len(bounds)-1]
	c.Meta.Int8MaxErr = last
	return last, checks, nil
}

// top1 returns the model's top-1 class for each image of x, predicting
// batch images at a time.
func (c *Classifier) top1(x *tensor.Tensor, batch int) ([]int, error) {
	n := x.Shape[0]
	per := x.Len() / max(n, 1)
	batch = max(batch, 1)
	out := make([]int, 0, n)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		shape := append([]int{hi - lo}, x.Shape[1:]...)
		p, err := c.PredictRaw(&tensor.Tensor{Shape: shape, Data: x.Data[lo*per : hi*per]})
		if err != nil {
			return nil, err
		}
		k := p.Shape[1]
		for r := 0; r < hi-lo; r++ {
			out = append(out, tensor.Argmax(p.Data[r*k:(r+1)*k]))
		}
	}
	return out, nil
}
