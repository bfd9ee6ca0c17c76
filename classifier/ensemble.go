package classifier

import (
	"fmt"
	"slices"

	"trashsort/tensor"
)

// LoadEnsemble reads one or more model files saved by Save. With one path it
// is Load. With several, the result is an ensemble: the first file's model
// leads (its metadata, input size and layers, which explanations use) and
// PredictRaw averages every member's calibrated probabilities, so an
// ensemble's Temperature is 1. Members must have the lead's classes in the
// same order; a member with another input size reads the view of its size
// (PredictViews, InputSizes) or, without one, the batch resized bilinearly
// (timm's and fastai's ensembles of differently sized models resize the
// same way).
func LoadEnsemble(paths ...string) (*Classifier, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("classifier: no model files")
	}
	lead, err := Load(paths[0])
	if err != nil {
		return nil, err
	}
	for _, p := range paths[1:] {
		m, err := Load(p)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(m.Meta.Classes, lead.Meta.Classes) {
			return nil, fmt.Errorf("%s: classes %v differ from %s's %v: an ensemble's members must share classes and their order", p, m.Meta.Classes, paths[0], lead.Meta.Classes)
		}
		lead.members = append(lead.members, m)
	}
	return lead, nil
}

// Members is the number of models whose predictions are averaged (1 for a
// single model).
func (c *Classifier) Members() int { return 1 + len(c.members) }

// each calls f for the lead and every other member.
func (c *Classifier) each(f func(*Classifier) error) error {
	if err := f(c); err != nil {
		return err
	}
	for _, m := range c.members {
		if err := f(m); err != nil {
			return err
		}
	}
	return nil
}

// SetBF16 runs the convolutions of every member in bfloat16 (or not).
func (c *Classifier) SetBF16(on bool) {
	c.each(func(m *Classifier) error { m.Model.BF16 = on; return nil })
}

// SetInt8MaxErr sets, for every member, the largest calibrated error of a
// convolution run in int8 (see nn.Model.Int8MaxErr).
func (c *Classifier) SetInt8MaxErr(e float32) {
	c.each(func(m *Classifier) error { m.Model.Int8MaxErr = e; return nil })
}

// predictEnsemble averages the members' calibrated probabilities.
func (c *Classifier) predictEnsemble(v Views) (*tensor.Tensor, error) {
	var sum *tensor.Tensor
	err := c.each(func(m *Classifier) error {
		p, err := m.predictSizes(v)
		if err != nil {
			return err
		}
		m.calibrateOwn(p.Data)
		if sum == nil {
			sum = p
			return nil
		}
		for i, v := range p.Data {
			sum.Data[i] += v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	k := float32(c.Members())
	for i := range sum.Data {
		sum.Data[i] /= k
	}
	return sum, nil
}

// resizeBatch scales raw images [N, H, W, C] to [N, h, w, C] with bilinear
// interpolation on pixel centres (data.Resize's convention, without its
// rounding to 8 bits).
func resizeBatch(x *tensor.Tensor, h, w int) *tensor.Tensor {
	n, H, W, C := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := tensor.New(n, h, w, C)
	sy, sx := float64(H)/float64(h), float64(W)/float64(w)
	for i := 0; i < n; i++ {
		src := x.Data[i*H*W*C : (i+1)*H*W*C]
		dst := out.Data[i*h*w*C : (i+1)*h*w*C]
		for y := 0; y < h; y++ {
			fy := max((float64(y)+0.5)*sy-0.5, 0)
			y0 := min(int(fy), H-1)
			y1 := min(y0+1, H-1)
			wy := float32(fy - float64(y0))
			for xx := 0; xx < w; xx++ {
				fx := max((float64(xx)+0.5)*sx-0.5, 0)
				x0 := min(int(fx), W-1)
				x1 := min(x0+1, W-1)
				wx := float32(fx - float64(x0))
				for ch := 0; ch < C; ch++ {
					p00, p01 := src[(y0*W+x0)*C+ch], src[(y0*W+x1)*C+ch]
					p10, p11 := src[(y1*W+x0)*C+ch], src[(y1*W+x1)*C+ch]
					dst[(y*w+xx)*C+ch] = (p00*(1-wx)+p01*wx)*(1-wy) + (p10*(1-wx)+p11*wx)*wy
				}
			}
		}
	}
	return out
}
