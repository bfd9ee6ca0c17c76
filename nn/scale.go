package nn

import (
	"math"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// channelAffine runs y = x*scale + shift per channel (last axis) forward,
// and dx = dy*scale backward: the computation of Rescaling and Normalization.
type channelAffine struct {
	in []int
}

func (a *channelAffine) forward(b *LayerBase, x *tensor.Tensor, scale, shift []float32) (*tensor.Tensor, error) {
	if err := checkBatch(b, x, b.inShapes[0]); err != nil {
		return nil, err
	}
	c := x.Shape[len(x.Shape)-1]
	y := tensor.New(x.Shape...)
	if err := dnnl.ChannelAffine(x.Len()/c, c, x.Data, scale, shift, y.Data); err != nil {
		return nil, shapeErr(b, "%v", err)
	}
	a.in = x.Shape
	return y, nil
}

func (a *channelAffine) backward(b *LayerBase, dy *tensor.Tensor, scale []float32) ([]*tensor.Tensor, error) {
	c := dy.Shape[len(dy.Shape)-1]
	dx := tensor.New(dy.Shape...)
	if err := dnnl.ChannelAffine(dy.Len()/c, c, dy.Data, scale, nil, dx.Data); err != nil {
		return nil, shapeErr(b, "%v", err)
	}
	return []*tensor.Tensor{dx}, nil
}

// Rescaling is Keras' Rescaling: y = x*Scale + Offset, with one value for
// all channels or one per channel (last axis).
type Rescaling struct {
	LayerBase
	Scale, Offset []float32
	scale, offset []float32 // expanded to the channel count
	channelAffine
}

// NewRescaling returns a Rescaling layer; scale and offset hold one value,
// or one per channel (an empty offset is 0).
func NewRescaling(name string, scale, offset []float32) *Rescaling {
	return &Rescaling{LayerBase: newBase(name, "Rescaling"), Scale: scale, Offset: offset}
}

// Params returns nil: the factors are fixed.
func (r *Rescaling) Params() []*Param { return nil }

func perChannel(v []float32, c int, def float32) ([]float32, bool) {
	switch len(v) {
	case 0:
		v = []float32{def}
		fallthrough
	case 1:
		out := make([]float32, c)
		fill(out, v[0])
		return out, true
	case c:
		return v, true
	}
	return nil, false
}

// OutputShape checks the factors against the channel count.
func (r *Rescaling) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&r.LayerBase, in, 0)
	if err != nil {
		return nil, err
	}
	c := s[len(s)-1]
	var ok1, ok2 bool
	r.scale, ok1 = perChannel(r.Scale, c, 1)
	r.offset, ok2 = perChannel(r.Offset, c, 0)
	if !ok1 || !ok2 || len(r.Scale) == 0 {
		return nil, shapeErr(&r.LayerBase, "scale %v and offset %v must have 1 or %d values", r.Scale, r.Offset, c)
	}
	return s, nil
}

// Forward scales and shifts.
func (r *Rescaling) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	return r.forward(&r.LayerBase, in[0], r.scale, r.offset)
}

// Backward scales the gradient.
func (r *Rescaling) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return r.backward(&r.LayerBase, dy, r.scale)
}

// Normalization is Keras' Normalization over the last axis with adapted
// (non-trainable) statistics: y = (x - mean) / max(sqrt(variance), 1e-7).
// Its weights are mean, variance and count, as Keras stores them.
type Normalization struct {
	LayerBase
	mean, variance, count *Param
	channelAffine
}

// NewNormalization returns a Normalization layer (axis -1), mean 0 and variance 1 until loaded.
func NewNormalization(name string) *Normalization {
	return &Normalization{LayerBase: newBase(name, "Normalization")}
}

// Params returns mean, variance and count.
func (n *Normalization) Params() []*Param {
	if n.mean == nil {
		return nil
	}
	return []*Param{n.mean, n.variance, n.count}
}

// OutputShape creates the statistics for the channel count.
func (n *Normalization) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&n.LayerBase, in, 0)
	if err != nil {
		return nil, err
	}
	c := s[len(s)-1]
	n.mean = newParam("mean", false, c)
	n.variance = newParam("variance", false, c)
	fill(n.variance.Value.Data, 1)
	n.count = newParam("count", false)
	return s, nil
}

// scaleShift turns the statistics into y = x*scale + shift.
func (n *Normalization) scaleShift() (scale, shift []float32) {
	c := n.mean.Value.Len()
	scale, shift = make([]float32, c), make([]float32, c)
	for k := 0; k < c; k++ {
		sd := math.Max(math.Sqrt(float64(n.variance.Value.Data[k])), 1e-7)
		scale[k] = float32(1 / sd)
		shift[k] = float32(-float64(n.mean.Value.Data[k]) / sd)
	}
	return scale, shift
}

// Forward normalizes.
func (n *Normalization) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	scale, shift := n.scaleShift()
	return n.forward(&n.LayerBase, in[0], scale, shift)
}

// Backward scales the gradient by 1/sd.
func (n *Normalization) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	scale, _ := n.scaleShift()
	return n.backward(&n.LayerBase, dy, scale)
}
