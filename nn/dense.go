package nn

import (
	"math/rand/v2"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// Dense is Keras' Dense layer: y = act(x kernel + bias), kernel [in, units].
// Activation is "linear", "relu" or "softmax".
type Dense struct {
	LayerBase
	Units      int
	Activation string
	UseBias    bool

	kernel, bias *Param
	x, y         *tensor.Tensor
}

// NewDense returns a Dense layer with a bias.
func NewDense(name string, units int, activation string) *Dense {
	return &Dense{LayerBase: newBase(name, "Dense"), Units: units, Activation: activation, UseBias: true}
}

// Params returns kernel and bias.
func (d *Dense) Params() []*Param {
	if d.bias != nil {
		return []*Param{d.kernel, d.bias}
	}
	return []*Param{d.kernel}
}

// OutputShape creates the weights for the input width.
func (d *Dense) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&d.LayerBase, in, 1)
	if err != nil {
		return nil, err
	}
	if d.Units < 1 {
		return nil, shapeErr(&d.LayerBase, "units must be positive, got %d", d.Units)
	}
	switch d.Activation {
	case "linear", "relu", "softmax":
	default:
		return nil, shapeErr(&d.LayerBase, "unknown activation %q", d.Activation)
	}
	d.kernel = newParam("kernel", true, s[0], d.Units)
	if d.UseBias {
		d.bias = newParam("bias", true, d.Units)
	}
	return []int{d.Units}, nil
}

func (d *Dense) initWeights(r *rand.Rand) {
	glorotUniform(r, d.kernel.Value.Data, d.kernel.Value.Shape[0], d.Units)
	d.kernel.Touch()
	if d.bias != nil {
		d.bias.Value.Zero()
		d.bias.Touch()
	}
}

// Forward computes the affine map through oneDNN, then the activation.
func (d *Dense) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&d.LayerBase, x, d.inShapes[0]); err != nil {
		return nil, err
	}
	n, k := x.Shape[0], x.Shape[1]
	y := tensor.New(n, d.Units)
	act := dnnl.Linear
	if d.Activation == "relu" {
		act = dnnl.ReLU
	}
	if err := dnnl.DenseForward(n, k, d.Units, x.Data, d.kernel.Value.Data, data(d.bias), y.Data, act); err != nil {
		return nil, shapeErr(&d.LayerBase, "%v", err)
	}
	if d.Activation == "softmax" {
		tensor.Softmax(d.Units, y.Data, y.Data)
	}
	d.x, d.y = nil, nil
	if m.Keep {
		d.x, d.y = x, y
	}
	return y, nil
}

// Backward takes the gradient of the output.
func (d *Dense) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	dz := d.gradBuf(dy.Shape...)
	defer d.doneWith(dz)
	switch d.Activation {
	case "relu":
		tensor.ActivationBackward(tensor.ReLU, d.y.Data, dy.Data, dz.Data)
	case "softmax":
		softmaxBackward(d.Units, d.y.Data, dy.Data, dz.Data)
	default:
		copy(dz.Data, dy.Data)
	}
	return d.BackwardLogits(dz, need)
}

// BackwardLogits takes the gradient with respect to the pre-activation
// output (the logits), which a fused softmax cross-entropy loss provides.
func (d *Dense) BackwardLogits(dz *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if d.x == nil {
		return nil, shapeErr(&d.LayerBase, "backward without a kept forward pass")
	}
	n, k := d.x.Shape[0], d.x.Shape[1]
	var dx *tensor.Tensor
	var dxData []float32
	if need[0] {
		dx = d.gradBuf(d.x.Shape...)
		dxData = dx.Data
	}
	var dw, db []float32
	if d.Trainable && d.kernel.Grad != nil {
		dw = d.kernel.Grad.Data
		if d.bias != nil {
			db = d.bias.Grad.Data
		}
	}
	// The kernel adds to the accumulated gradients.
	if err := dnnl.DenseBackward(n, k, d.Units, d.x.Data, d.kernel.Value.Data, dz.Data, dxData, dw, db); err != nil {
		return nil, shapeErr(&d.LayerBase, "%v", err)
	}
	return []*tensor.Tensor{dx}, nil
}
