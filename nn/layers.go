package nn

import (
	"fmt"
	"math/rand/v2"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// InputLayer is the model's entry point (Keras' InputLayer).
type InputLayer struct {
	LayerBase
	Shape []int
}

// NewInput returns an InputLayer for examples of the given shape (e.g. H, W, C).
func NewInput(name string, shape ...int) *InputLayer {
	return &InputLayer{LayerBase: newBase(name, "InputLayer"), Shape: shape}
}

// Params returns nil: an input has no weights.
func (l *InputLayer) Params() []*Param { return nil }

// OutputShape is the declared shape.
func (l *InputLayer) OutputShape(in [][]int) ([]int, error) { return l.Shape, nil }

// Forward passes the batch through after checking its shape.
func (l *InputLayer) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	if err := checkBatch(&l.LayerBase, in[0], l.Shape); err != nil {
		return nil, err
	}
	return in[0], nil
}

// Backward is never needed for an input.
func (l *InputLayer) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return []*tensor.Tensor{nil}, nil
}

// Activation is Keras' Activation layer ("linear", "relu", "relu6",
// "sigmoid", "swish", "softmax"),
// and with class "ReLU" Keras' ReLU layer (max_value 6 gives ReLU6).
type Activation struct {
	LayerBase
	Kind    string
	x, y    *tensor.Tensor
	lastLen int
}

// NewActivation returns an Activation layer of the given kind.
func NewActivation(name, kind string) *Activation {
	return &Activation{LayerBase: newBase(name, "Activation"), Kind: kind}
}

// NewReLU returns Keras' ReLU layer; maxValue 6 makes it ReLU6, 0 means unbounded.
func NewReLU(name string, maxValue float32) *Activation {
	a := &Activation{LayerBase: newBase(name, "ReLU"), Kind: "relu"}
	if maxValue == 6 {
		a.Kind = "relu6"
	}
	return a
}

// Params returns nil.
func (a *Activation) Params() []*Param { return nil }

func actKind(kind string) (int, error) {
	switch kind {
	case "linear", "":
		return tensor.Linear, nil
	case "relu":
		return tensor.ReLU, nil
	case "relu6":
		return tensor.ReLU6, nil
	case "sigmoid":
		return tensor.Sigmoid, nil
	case "swish", "silu":
		return tensor.Swish, nil
	}
	return 0, fmt.Errorf("unknown activation %q", kind)
}

// activationBackward computes dx from dy with oneDNN, from the forward
// output y, or from the input x where the derivative needs it (Swish).
func activationBackward(kind int, x, y, dy, dx []float32) error {
	act := dnnl.Activation(kind)
	if kind == tensor.Swish {
		return dnnl.ActivationBackwardFromInput(act, x, dy, dx)
	}
	return dnnl.ActivationBackward(act, y, dy, dx)
}

// OutputShape checks the kind; the shape passes through.
func (a *Activation) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&a.LayerBase, in, 0)
	if err != nil {
		return nil, err
	}
	if a.Kind != "softmax" {
		if _, err := actKind(a.Kind); err != nil {
			return nil, shapeErr(&a.LayerBase, "%v", err)
		}
	}
	return s, nil
}

// Forward applies the activation.
func (a *Activation) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	y := m.alloc(x.Shape...)
	switch a.Kind {
	case "softmax":
		tensor.Softmax(x.Shape[len(x.Shape)-1], x.Data, y.Data)
	case "linear":
		copy(y.Data, x.Data)
	default:
		k, _ := actKind(a.Kind)
		if err := dnnl.ActivationForward(dnnl.Activation(k), x.Data, y.Data); err != nil {
			return nil, shapeErr(&a.LayerBase, "%v", err)
		}
	}
	a.x, a.y = nil, nil
	if m.Keep {
		a.x, a.y = x, y
	}
	return y, nil
}

// Backward uses the kept output.
func (a *Activation) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if a.y == nil {
		return nil, shapeErr(&a.LayerBase, "backward without a kept forward pass")
	}
	dx := a.gradBuf(dy.Shape...)
	switch a.Kind {
	case "softmax":
		softmaxBackward(dy.Shape[len(dy.Shape)-1], a.y.Data, dy.Data, dx.Data)
	case "linear":
		copy(dx.Data, dy.Data)
	default:
		k, _ := actKind(a.Kind)
		if err := activationBackward(k, a.x.Data, a.y.Data, dy.Data, dx.Data); err != nil {
			return nil, shapeErr(&a.LayerBase, "%v", err)
		}
	}
	return []*tensor.Tensor{dx}, nil
}

func softmaxBackward(c int, y, dy, dx []float32) {
	for r := 0; r < len(y)/c; r++ {
		var dot float32
		for k := 0; k < c; k++ {
			dot += y[r*c+k] * dy[r*c+k]
		}
		for k := 0; k < c; k++ {
			dx[r*c+k] = y[r*c+k] * (dy[r*c+k] - dot)
		}
	}
}

// Pooling2D is Keras' MaxPooling2D or AveragePooling2D.
type Pooling2D struct {
	LayerBase
	Kind           int // tensor.MaxPool or tensor.AvgPool
	PH, PW, SH, SW int
	Padding        string
	g              tensor.ConvGeom
	ws             []byte
	kept           bool
}

// NewMaxPooling2D returns a MaxPooling2D layer.
func NewMaxPooling2D(name string, ph, pw, sh, sw int, padding string) *Pooling2D {
	return &Pooling2D{LayerBase: newBase(name, "MaxPooling2D"), Kind: tensor.MaxPool, PH: ph, PW: pw, SH: sh, SW: sw, Padding: padding}
}

// NewAveragePooling2D returns an AveragePooling2D layer (padding excluded from the average).
func NewAveragePooling2D(name string, ph, pw, sh, sw int, padding string) *Pooling2D {
	return &Pooling2D{LayerBase: newBase(name, "AveragePooling2D"), Kind: tensor.AvgPool, PH: ph, PW: pw, SH: sh, SW: sw, Padding: padding}
}

// Params returns nil.
func (p *Pooling2D) Params() []*Param { return nil }

func (p *Pooling2D) geom(n int, s []int) (tensor.ConvGeom, error) {
	g, err := tensor.NewConvGeom(n, s[0], s[1], s[2], s[2], p.PH, p.PW, p.SH, p.SW, p.Padding, s[2])
	if err != nil {
		return g, shapeErr(&p.LayerBase, "input %v: %v", s, err)
	}
	return g, nil
}

// OutputShape computes the pooled size.
func (p *Pooling2D) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&p.LayerBase, in, 3)
	if err != nil {
		return nil, err
	}
	g, err := p.geom(1, s)
	if err != nil {
		return nil, err
	}
	return []int{g.OH, g.OW, g.C}, nil
}

// Forward pools through oneDNN.
func (p *Pooling2D) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&p.LayerBase, x, p.inShapes[0]); err != nil {
		return nil, err
	}
	g, err := p.geom(x.Shape[0], x.Shape[1:])
	if err != nil {
		return nil, err
	}
	y := m.alloc(g.N, g.OH, g.OW, g.C)
	var ws []byte
	if m.Keep {
		n, err := dnnl.PoolWorkspaceLen(dnnl.PoolAlg(p.Kind), g)
		if err != nil {
			return nil, shapeErr(&p.LayerBase, "%v", err)
		}
		ws = make([]byte, max(n, 1))
	}
	if err := dnnl.PoolForward(dnnl.PoolAlg(p.Kind), g, x.Data, y.Data, ws); err != nil {
		return nil, shapeErr(&p.LayerBase, "%v", err)
	}
	p.g, p.ws, p.kept = g, ws, m.Keep
	return y, nil
}

// Backward routes gradients to the window inputs.
func (p *Pooling2D) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if !p.kept {
		return nil, shapeErr(&p.LayerBase, "backward without a kept forward pass")
	}
	g := p.g
	dx := p.gradBuf(g.N, g.H, g.W, g.C)
	if err := dnnl.PoolBackward(dnnl.PoolAlg(p.Kind), g, dy.Data, dx.Data, p.ws); err != nil {
		return nil, shapeErr(&p.LayerBase, "%v", err)
	}
	return []*tensor.Tensor{dx}, nil
}

// ZeroPadding2D is Keras' ZeroPadding2D with ((Top, Bottom), (Left, Right)).
type ZeroPadding2D struct {
	LayerBase
	Top, Bottom, Left, Right int
	in                       []int
}

// NewZeroPadding2D returns a ZeroPadding2D layer.
func NewZeroPadding2D(name string, top, bottom, left, right int) *ZeroPadding2D {
	return &ZeroPadding2D{LayerBase: newBase(name, "ZeroPadding2D"), Top: top, Bottom: bottom, Left: left, Right: right}
}

// Params returns nil.
func (z *ZeroPadding2D) Params() []*Param { return nil }

// OutputShape adds the padding.
func (z *ZeroPadding2D) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&z.LayerBase, in, 3)
	if err != nil {
		return nil, err
	}
	return []int{s[0] + z.Top + z.Bottom, s[1] + z.Left + z.Right, s[2]}, nil
}

func (z *ZeroPadding2D) copyRows(n, h, w, c int, small, big []float32, toBig bool) {
	bw := w + z.Left + z.Right
	bh := h + z.Top + z.Bottom
	for i := 0; i < n; i++ {
		for y := 0; y < h; y++ {
			s := ((i*h + y) * w) * c
			b := ((i*bh+y+z.Top)*bw + z.Left) * c
			if toBig {
				copy(big[b:b+w*c], small[s:s+w*c])
			} else {
				copy(small[s:s+w*c], big[b:b+w*c])
			}
		}
	}
}

// Forward pads with zeros.
func (z *ZeroPadding2D) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&z.LayerBase, x, z.inShapes[0]); err != nil {
		return nil, err
	}
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := m.alloc(n, h+z.Top+z.Bottom, w+z.Left+z.Right, c)
	clear(y.Data)
	z.copyRows(n, h, w, c, x.Data, y.Data, true)
	z.in = x.Shape
	return y, nil
}

// Backward crops the gradient.
func (z *ZeroPadding2D) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	dx := tensor.New(z.in...)
	z.copyRows(z.in[0], z.in[1], z.in[2], z.in[3], dx.Data, dy.Data, false)
	return []*tensor.Tensor{dx}, nil
}

// Concatenate is Keras' Concatenate along the last axis.
type Concatenate struct {
	LayerBase
	widths []int
}

// NewConcatenate returns a Concatenate layer (axis -1).
func NewConcatenate(name string) *Concatenate {
	return &Concatenate{LayerBase: newBase(name, "Concatenate")}
}

// Params returns nil.
func (c *Concatenate) Params() []*Param { return nil }

// OutputShape sums the channel counts; the other dimensions must agree.
func (c *Concatenate) OutputShape(in [][]int) ([]int, error) {
	if len(in) < 2 {
		return nil, shapeErr(&c.LayerBase, "needs at least 2 inputs, got %d", len(in))
	}
	out := append([]int(nil), in[0]...)
	c.widths = nil
	for _, s := range in {
		if len(s) != len(out) || !tensor.SameShape(s[:len(s)-1], out[:len(out)-1]) {
			return nil, shapeErr(&c.LayerBase, "inputs %v do not agree except on the last axis", in)
		}
		c.widths = append(c.widths, s[len(s)-1])
	}
	out[len(out)-1] = 0
	for _, w := range c.widths {
		out[len(out)-1] += w
	}
	return out, nil
}

// Forward concatenates through oneDNN.
func (c *Concatenate) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	parts := make([][]float32, len(in))
	for i, x := range in {
		if err := checkBatch(&c.LayerBase, x, c.inShapes[i]); err != nil {
			return nil, err
		}
		parts[i] = x.Data
	}
	rows := in[0].Len() / c.widths[0]
	y := m.alloc(batchShape(in[0].Shape[0], c.outShape)...)
	if err := dnnl.Concat(rows, c.widths, parts, y.Data); err != nil {
		return nil, shapeErr(&c.LayerBase, "%v", err)
	}
	return y, nil
}

// Backward splits the gradient.
func (c *Concatenate) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	n := dy.Shape[0]
	out := make([]*tensor.Tensor, len(c.widths))
	parts := make([][]float32, len(c.widths))
	for i := range out {
		if need[i] {
			out[i] = c.gradBuf(batchShape(n, c.inShapes[i])...)
			parts[i] = out[i].Data
		}
	}
	rows := dy.Len() / c.outShape[len(c.outShape)-1]
	tensor.Split(rows, c.widths, dy.Data, parts)
	return out, nil
}

// Add is Keras' Add: the elementwise sum of same-shaped inputs.
type Add struct{ LayerBase }

// NewAdd returns an Add layer.
func NewAdd(name string) *Add { return &Add{LayerBase: newBase(name, "Add")} }

// Params returns nil.
func (a *Add) Params() []*Param { return nil }

// OutputShape checks that all inputs agree.
func (a *Add) OutputShape(in [][]int) ([]int, error) {
	if len(in) < 2 {
		return nil, shapeErr(&a.LayerBase, "needs at least 2 inputs, got %d", len(in))
	}
	for _, s := range in[1:] {
		if !tensor.SameShape(s, in[0]) {
			return nil, shapeErr(&a.LayerBase, "input shapes %v differ", in)
		}
	}
	return in[0], nil
}

// Forward sums.
func (a *Add) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	y := m.alloc(in[0].Shape...)
	copy(y.Data, in[0].Data)
	for _, x := range in[1:] {
		if !tensor.SameShape(x.Shape, y.Shape) {
			return nil, shapeErr(&a.LayerBase, "input shapes %v and %v differ", y.Shape, x.Shape)
		}
		addInto(y.Data, x.Data)
	}
	return y, nil
}

// Backward passes the gradient to every input.
func (a *Add) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, len(need))
	for i := range out {
		if need[i] {
			out[i] = dy.Clone()
		}
	}
	return out, nil
}

// GlobalAveragePooling2D averages over height and width; with Keepdims the
// output is [1, 1, C] instead of [C] (Keras' keepdims=True).
type GlobalAveragePooling2D struct {
	LayerBase
	Keepdims bool
	g        tensor.ConvGeom
}

// NewGlobalAveragePooling2D returns a GlobalAveragePooling2D layer.
func NewGlobalAveragePooling2D(name string) *GlobalAveragePooling2D {
	return &GlobalAveragePooling2D{LayerBase: newBase(name, "GlobalAveragePooling2D")}
}

// Params returns nil.
func (g *GlobalAveragePooling2D) Params() []*Param { return nil }

// OutputShape is [C], or [1, 1, C] with Keepdims.
func (g *GlobalAveragePooling2D) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&g.LayerBase, in, 3)
	if err != nil {
		return nil, err
	}
	if g.Keepdims {
		return []int{1, 1, s[2]}, nil
	}
	return []int{s[2]}, nil
}

// Forward averages each channel: oneDNN average pooling with a window of
// the whole image.
func (g *GlobalAveragePooling2D) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&g.LayerBase, x, g.inShapes[0]); err != nil {
		return nil, err
	}
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	geom, err := tensor.NewConvGeom(n, h, w, c, c, h, w, 1, 1, tensor.Valid, c)
	if err != nil {
		return nil, shapeErr(&g.LayerBase, "%v", err)
	}
	y := m.alloc(batchShape(n, g.outShape)...)
	if err := dnnl.PoolForward(dnnl.AvgPool, geom, x.Data, y.Data, nil); err != nil {
		return nil, shapeErr(&g.LayerBase, "%v", err)
	}
	g.g = geom
	return y, nil
}

// Backward spreads the gradient evenly.
func (g *GlobalAveragePooling2D) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	dx := g.gradBuf(g.g.N, g.g.H, g.g.W, g.g.C)
	if err := dnnl.PoolBackward(dnnl.AvgPool, g.g, dy.Data, dx.Data, nil); err != nil {
		return nil, shapeErr(&g.LayerBase, "%v", err)
	}
	return []*tensor.Tensor{dx}, nil
}

// Reshape is Keras' Reshape: each example takes Target's shape (the same
// number of values); no data moves.
type Reshape struct {
	LayerBase
	Target []int
	in     []int
}

// NewReshape returns a Reshape layer to the given per-example shape.
func NewReshape(name string, target ...int) *Reshape {
	return &Reshape{LayerBase: newBase(name, "Reshape"), Target: target}
}

// Params returns nil.
func (r *Reshape) Params() []*Param { return nil }

// OutputShape is Target, which must hold as many values as the input.
func (r *Reshape) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&r.LayerBase, in, 0)
	if err != nil {
		return nil, err
	}
	if len(r.Target) == 0 || tensor.Numel(r.Target) != tensor.Numel(s) {
		return nil, shapeErr(&r.LayerBase, "cannot reshape %v to %v", s, r.Target)
	}
	return append([]int(nil), r.Target...), nil
}

// Forward reshapes without copying.
func (r *Reshape) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&r.LayerBase, x, r.inShapes[0]); err != nil {
		return nil, err
	}
	r.in = x.Shape
	return &tensor.Tensor{Shape: batchShape(x.Shape[0], r.Target), Data: x.Data}, nil
}

// Backward reshapes back.
func (r *Reshape) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return []*tensor.Tensor{{Shape: r.in, Data: dy.Data}}, nil
}

// Flatten reshapes each example to one dimension.
type Flatten struct {
	LayerBase
	in []int
}

// NewFlatten returns a Flatten layer.
func NewFlatten(name string) *Flatten { return &Flatten{LayerBase: newBase(name, "Flatten")} }

// Params returns nil.
func (f *Flatten) Params() []*Param { return nil }

// OutputShape is the product of the input dimensions.
func (f *Flatten) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&f.LayerBase, in, 0)
	if err != nil {
		return nil, err
	}
	return []int{tensor.Numel(s)}, nil
}

// Forward reshapes without copying.
func (f *Flatten) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	f.in = x.Shape
	return &tensor.Tensor{Shape: []int{x.Shape[0], x.Len() / x.Shape[0]}, Data: x.Data}, nil
}

// Backward reshapes back.
func (f *Flatten) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return []*tensor.Tensor{{Shape: f.in, Data: dy.Data}}, nil
}

// Dropout zeroes a fraction Rate of its inputs in training and scales the
// rest by 1/(1-Rate), as Keras does; it is the identity otherwise. With
// PerExample set it drops whole examples (Keras' noise_shape=(None, 1, 1, 1),
// EfficientNet's drop-connect of a residual branch).
type Dropout struct {
	LayerBase
	Rate       float32
	PerExample bool
	rng        *rand.Rand
	mask       []float32
}

// NewDropout returns a Dropout layer.
func NewDropout(name string, rate float32) *Dropout {
	return &Dropout{LayerBase: newBase(name, "Dropout"), Rate: rate, rng: rand.New(rand.NewPCG(1, 1))}
}

// Params returns nil.
func (d *Dropout) Params() []*Param { return nil }

// OutputShape passes through.
func (d *Dropout) OutputShape(in [][]int) ([]int, error) {
	if d.Rate < 0 || d.Rate >= 1 {
		return nil, shapeErr(&d.LayerBase, "rate %g outside [0, 1)", d.Rate)
	}
	return oneInput(&d.LayerBase, in, 0)
}

// Seed sets the dropout mask's random source.
func (d *Dropout) Seed(s uint64) { d.rng = rand.New(rand.NewPCG(s, 0x5eed)) }

// Forward drops in training mode.
func (d *Dropout) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	d.mask = nil
	if !m.Training || d.Rate == 0 {
		return x, nil
	}
	y := tensor.New(x.Shape...)
	d.mask = make([]float32, x.Len())
	scale := 1 / (1 - d.Rate)
	group := 1 // values sharing one draw
	if d.PerExample {
		group = x.Len() / x.Shape[0]
	}
	for i := 0; i < x.Len(); i += group {
		if d.rng.Float32() < d.Rate {
			continue
		}
		for j := i; j < i+group; j++ {
			d.mask[j] = scale
			y.Data[j] = x.Data[j] * scale
		}
	}
	return y, nil
}

// Backward applies the same mask.
func (d *Dropout) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if d.mask == nil {
		return []*tensor.Tensor{dy}, nil
	}
	dx := tensor.New(dy.Shape...)
	for i, v := range dy.Data {
		dx.Data[i] = v * d.mask[i]
	}
	return []*tensor.Tensor{dx}, nil
}

// GlobalMaxPooling2D takes each channel's maximum over height and width.
type GlobalMaxPooling2D struct {
	LayerBase
	in     []int
	argmax []int
}

// NewGlobalMaxPooling2D returns a GlobalMaxPooling2D layer.
func NewGlobalMaxPooling2D(name string) *GlobalMaxPooling2D {
	return &GlobalMaxPooling2D{LayerBase: newBase(name, "GlobalMaxPooling2D")}
}

// Params returns nil.
func (g *GlobalMaxPooling2D) Params() []*Param { return nil }

// OutputShape is [C].
func (g *GlobalMaxPooling2D) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&g.LayerBase, in, 3)
	if err != nil {
		return nil, err
	}
	return []int{s[2]}, nil
}

// Forward takes the channel maxima.
func (g *GlobalMaxPooling2D) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&g.LayerBase, x, g.inShapes[0]); err != nil {
		return nil, err
	}
	n, hw, c := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3]
	y := tensor.New(n, c)
	g.in, g.argmax = x.Shape, make([]int, n*c)
	for i := 0; i < n; i++ {
		for k := 0; k < c; k++ {
			best := i * hw * c
			for p := 1; p < hw; p++ {
				if x.Data[(i*hw+p)*c+k] > x.Data[best+k] {
					best = (i*hw + p) * c
				}
			}
			y.Data[i*c+k] = x.Data[best+k]
			g.argmax[i*c+k] = best + k
		}
	}
	return y, nil
}

// Backward routes each gradient to its maximum.
func (g *GlobalMaxPooling2D) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	dx := tensor.New(g.in...)
	for i, j := range g.argmax {
		dx.Data[j] += dy.Data[i]
	}
	return []*tensor.Tensor{dx}, nil
}
