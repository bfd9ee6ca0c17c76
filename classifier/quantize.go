package classifier

import (
	"context"
	"fmt"
	"iter"

	"trashsort/tensor"
)

// QuantizeOptions tune Quantize.
type QuantizeOptions struct {
	// Images is how many images to record the convolutions' ranges on
	// (whole batches: the last may take it over).
	Images int
	// Check is how many further images to check int8 against float32 on
	// (whole batches); 0 leaves the error bound as it was.
	Check int
	// MinAgreement is the fraction of the checked images on which int8's
	// top-1 class must match float32's (see ChooseInt8MaxErr).
	MinAgreement float64
	// Batch is the batch size of the check.
	Batch int
}

// Quantization is what Quantize did and measured.
type Quantization struct {
	// Images were calibrated on; Convolutions had their ranges recorded.
	Images, Convolutions int
	// Held is how many images the error bound was checked on (0: none,
	// the bound was left as it was).
	Held int
	// Checks are the bounds tried on them (ChooseInt8MaxErr), MaxErr the
	// one stored, Reached whether it reached MinAgreement (else it is the
	// smallest tried).
	Checks  []Int8Check
	MaxErr  float32
	Reached bool
}

// Quantize calibrates 8-bit inference on raw image batches [N, Size,
// Size, 3] in [0, 255] (training images, shuffled; the batches are
// modified): the first Images record every convolution's input range
// (CalibrateInt8), the first batch of them tunes how much of it the
// 8-bit steps cover (TuneInt8), and the next Check images, held out from
// both, choose the error bound --int8 uses (ChooseInt8MaxErr). It stops
// reading batches once it has them all. The result is stored in Meta.
func (c *Classifier) Quantize(ctx context.Context, batches iter.Seq2[*tensor.Tensor, error], o QuantizeOptions) (*Quantization, error) {
	if !(o.MinAgreement >= 0 && o.MinAgreement <= 1) {
		return nil, fmt.Errorf("classifier: int8 agreement %g: want a fraction in [0, 1]", o.MinAgreement)
	}
	q := &Quantization{}
	var tuneX *tensor.Tensor
	var held []float32 // raw images held out for the agreement check
	for x, err := range batches {
		if err != nil {
			return nil, err
		}
		n := x.Shape[0]
		if n == 0 {
			continue
		}
		if q.Images < o.Images {
			if tuneX == nil {
				tuneX = x.Clone()
			}
			if err := c.CalibrateInt8(x); err != nil {
				return nil, err
			}
			q.Images += n
			continue
		}
		if q.Held >= o.Check {
			break // enough images: stop decoding the rest
		}
		held = append(held, x.Data...)
		q.Held += n
	}
	if q.Images == 0 {
		return nil, fmt.Errorf("classifier: no images to calibrate int8 on")
	}
	if err := c.TuneInt8(tuneX); err != nil {
		return nil, err
	}
	q.Convolutions = len(c.Meta.Int8)
	if q.Held == 0 {
		return q, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := c.Meta.Size
	x := &tensor.Tensor{Shape: []int{q.Held, s, s, 3}, Data: held}
	var err error
	if q.MaxErr, q.Checks, err = c.ChooseInt8MaxErr(x, Int8Bounds, o.MinAgreement, o.Batch); err != nil {
		return nil, err
	}
	q.Reached = q.Checks[len(q.Checks)-1].Agreement() >= o.MinAgreement
	return q, nil
}
