package classifier

import (
	"fmt"
	"math"
	"slices"

	"trashsort/nn"
	"trashsort/tensor"
)

// Outputs are what one forward pass tells about each image: the model's
// raw probabilities (as PredictViews), the logits they come from and the
// pooled backbone features (the global average pooling's output), the
// last two averaged over the test sizes.
type Outputs struct {
	Probs    *tensor.Tensor // [N, classes]
	Logits   *tensor.Tensor // [N, classes]
	Features *tensor.Tensor // [N, features]
}

// PredictOutputs is PredictViews with the logits and pooled features. It
// needs a single model: an ensemble's members have features of their own.
func (c *Classifier) PredictOutputs(v Views) (*Outputs, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("classifier: no images")
	}
	if len(c.members) > 0 {
		return nil, fmt.Errorf("classifier: an ensemble has no single feature space; score one member")
	}
	sizes := c.TestSizes()
	k := len(c.Meta.Classes)
	var logits, feats []float64
	n := 0
	for _, s := range sizes {
		m, err := c.modelAt(s)
		if err != nil {
			return nil, err
		}
		gap, hidden, out := m.Index("global_average_pooling2d"), m.Index("dense"), m.Index("dense_1")
		if gap < 0 || hidden < 0 || out < 0 {
			return nil, fmt.Errorf("classifier: the model lacks its head's layers")
		}
		in := v.at(s).Clone()
		c.Preprocess(in.Data)
		res, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: in}, []int{gap, hidden}, false)
		if err != nil {
			return nil, err
		}
		z, err := denseLogits(m.Layers[out], res[1])
		if err != nil {
			return nil, err
		}
		if logits == nil {
			n = z.Shape[0]
			logits, feats = make([]float64, len(z.Data)), make([]float64, len(res[0].Data))
		}
		for i, x := range z.Data {
			logits[i] += float64(x) / float64(len(sizes))
		}
		for i, x := range res[0].Data {
			feats[i] += float64(x) / float64(len(sizes))
		}
	}
	o := &Outputs{Probs: tensor.New(n, k), Logits: tensor.New(n, k), Features: tensor.New(n, len(feats)/n)}
	for i, x := range logits {
		o.Logits.Data[i] = float32(x)
	}
	for i, x := range feats {
		o.Features.Data[i] = float32(x)
	}
	for r := 0; r < n; r++ {
		row := logits[r*k : (r+1)*k]
		hi := slices.Max(row)
		z := 0.0
		for _, l := range row {
			z += math.Exp(l - hi)
		}
		for j, l := range row {
			o.Probs.Data[r*k+j] = float32(math.Exp(l-hi) / z)
		}
	}
	return o, nil
}

// denseLogits applies the output Dense layer's affine map without its softmax.
func denseLogits(l nn.Layer, h *tensor.Tensor) (*tensor.Tensor, error) {
	d, ok := l.(*nn.Dense)
	if !ok {
		return nil, fmt.Errorf("classifier: output layer is %T, not Dense", l)
	}
	ps := d.Params()
	w := ps[0].Value
	if len(h.Shape) != 2 || h.Shape[1] != w.Shape[0] {
		return nil, fmt.Errorf("classifier: hidden features %v do not fit the output kernel %v", h.Shape, w.Shape)
	}
	n, in, units := h.Shape[0], w.Shape[0], w.Shape[1]
	z := tensor.New(n, units)
	for r := 0; r < n; r++ {
		row := z.Data[r*units : (r+1)*units]
		if len(ps) > 1 {
			copy(row, ps[1].Value.Data)
		}
		for i, x := range h.Data[r*in : (r+1)*in] {
			if x == 0 {
				continue
			}
			for j, wv := range w.Data[i*units : (i+1)*units] {
				row[j] += x * wv
			}
		}
	}
	return z, nil
}
