package nn

import (
	"math"
	"math/rand/v2"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// Conv2D is Keras' Conv2D (and, with Depthwise set, DepthwiseConv2D with
// depth_multiplier 1): NHWC input, kernel [KH, KW, C, F] (depthwise
// [KH, KW, C, 1]), optional bias and ReLU activation.
type Conv2D struct {
	LayerBase
	Filters    int
	KH, KW     int
	SH, SW     int
	Padding    string
	UseBias    bool
	Activation int // a tensor activation kind: Linear, ReLU, ReLU6, Sigmoid or Swish
	Depthwise  bool

	kernel, bias *Param
	g            tensor.ConvGeom
	x, y, z      *tensor.Tensor // input, output and (Swish) pre-activation kept for Backward
	bf16         bool           // the kept pass ran in bfloat16, and so does Backward
}

// NewConv2D returns a Conv2D with the given filters, kernel size, strides and padding ("valid" or "same").
func NewConv2D(name string, filters, kh, kw, sh, sw int, padding string, useBias bool) *Conv2D {
	return &Conv2D{LayerBase: newBase(name, "Conv2D"), Filters: filters, KH: kh, KW: kw, SH: sh, SW: sw, Padding: padding, UseBias: useBias}
}

// NewDepthwiseConv2D returns a DepthwiseConv2D (depth multiplier 1).
func NewDepthwiseConv2D(name string, kh, kw, sh, sw int, padding string, useBias bool) *Conv2D {
	c := &Conv2D{LayerBase: newBase(name, "DepthwiseConv2D"), KH: kh, KW: kw, SH: sh, SW: sw, Padding: padding, UseBias: useBias, Depthwise: true}
	return c
}

// Params returns kernel (or depthwise_kernel) and bias, as Keras orders them.
func (c *Conv2D) Params() []*Param {
	if c.kernel == nil {
		return nil
	}
	if c.bias != nil {
		return []*Param{c.kernel, c.bias}
	}
	return []*Param{c.kernel}
}

func (c *Conv2D) geom(n int, in []int) (tensor.ConvGeom, error) {
	groups, f := 1, c.Filters
	if c.Depthwise {
		groups, f = in[2], in[2]
	}
	g, err := tensor.NewConvGeom(n, in[0], in[1], in[2], f, c.KH, c.KW, c.SH, c.SW, c.Padding, groups)
	if err != nil {
		return g, shapeErr(&c.LayerBase, "input %v: %v", in, err)
	}
	return g, nil
}

// OutputShape builds the weights for the input's channel count.
func (c *Conv2D) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&c.LayerBase, in, 3)
	if err != nil {
		return nil, err
	}
	g, err := c.geom(1, s)
	if err != nil {
		return nil, err
	}
	if c.Depthwise {
		c.Filters = g.F
		c.kernel = newParam("depthwise_kernel", true, c.KH, c.KW, g.C, 1)
	} else {
		c.kernel = newParam("kernel", true, c.KH, c.KW, g.C, g.F)
	}
	if c.UseBias {
		c.bias = newParam("bias", true, g.F)
	}
	return []int{g.OH, g.OW, g.F}, nil
}

func (c *Conv2D) initWeights(r *rand.Rand) {
	k := c.kernel.Value
	rf := c.KH * c.KW
	fanIn, fanOut := rf*k.Shape[2], rf*k.Shape[3]
	glorotUniform(r, k.Data, fanIn, fanOut)
	c.kernel.Touch()
	if c.bias != nil {
		c.bias.Value.Zero()
		c.bias.Touch()
	}
}

func glorotUniform(r *rand.Rand, w []float32, fanIn, fanOut int) {
	limit := math.Sqrt(6 / float64(fanIn+fanOut))
	for i := range w {
		w[i] = float32((r.Float64()*2 - 1) * limit)
	}
}

func (c *Conv2D) biasData() []float32 {
	if c.bias == nil {
		return nil
	}
	return c.bias.Value.Data
}

// Forward runs the convolution through oneDNN.
func (c *Conv2D) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&c.LayerBase, x, c.inShapes[0]); err != nil {
		return nil, err
	}
	g, err := c.geom(x.Shape[0], x.Shape[1:])
	if err != nil {
		return nil, err
	}
	y := m.alloc(g.N, g.OH, g.OW, g.F)
	c.g, c.x, c.y, c.z, c.bf16 = g, nil, nil, nil, m.bf16
	conv := dnnl.ConvForward
	if m.bf16 {
		conv = dnnl.ConvForwardBF16
	}
	if m.Keep && c.Activation == tensor.Swish {
		// Swish's derivative needs the pre-activation: keep it.
		c.z = tensor.New(g.N, g.OH, g.OW, g.F)
		if err := conv(g, x.Data, c.kernel.Value.Data, c.biasData(), c.z.Data, dnnl.Linear); err != nil {
			return nil, shapeErr(&c.LayerBase, "%v", err)
		}
		if err := dnnl.ActivationForward(dnnl.Swish, c.z.Data, y.Data); err != nil {
			return nil, shapeErr(&c.LayerBase, "%v", err)
		}
	} else if err := conv(g, x.Data, c.kernel.Value.Data, c.biasData(), y.Data, dnnl.Activation(c.Activation)); err != nil {
		return nil, shapeErr(&c.LayerBase, "%v", err)
	}
	if m.Keep {
		c.x = x
		if c.Activation != tensor.Linear {
			c.y = y
		}
	}
	return y, nil
}

// Backward computes the kernel and bias gradients and, if needed, the input gradient.
func (c *Conv2D) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if c.x == nil {
		return nil, shapeErr(&c.LayerBase, "backward without a kept forward pass")
	}
	g := c.g
	if c.Activation != tensor.Linear {
		var z []float32
		if c.z != nil {
			z = c.z.Data
		}
		dz := c.gradBuf(dy.Shape...)
		if err := activationBackward(c.Activation, z, c.y.Data, dy.Data, dz.Data); err != nil {
			return nil, shapeErr(&c.LayerBase, "%v", err)
		}
		defer c.doneWith(dz)
		dy = dz
	}
	if c.kernel.Grad != nil && c.Trainable {
		var db []float32
		if c.bias != nil {
			db = c.bias.Grad.Data
		}
		bwdW := dnnl.ConvBackwardWeights
		if c.bf16 {
			bwdW = dnnl.ConvBackwardWeightsBF16
		}
		// The kernel adds to the accumulated gradients.
		if err := bwdW(g, c.x.Data, dy.Data, c.kernel.Grad.Data, db); err != nil {
			return nil, shapeErr(&c.LayerBase, "%v", err)
		}
	}
	out := make([]*tensor.Tensor, 1)
	if need[0] {
		dx := c.gradBuf(c.x.Shape...)
		bwdD := dnnl.ConvBackwardData
		if c.bf16 {
			bwdD = dnnl.ConvBackwardDataBF16
		}
		if err := bwdD(g, dy.Data, c.kernel.Value.Data, dx.Data); err != nil {
			return nil, shapeErr(&c.LayerBase, "%v", err)
		}
		out[0] = dx
	}
	return out, nil
}

// addInto adds src to dst element by element.
func addInto(dst, src []float32) {
	dst = dst[:len(src)] // one bounds check, not one per element
	for i, v := range src {
		dst[i] += v
	}
}
