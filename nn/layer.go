// Package nn holds Keras-style layers, a functional Model over a DAG of
// layers with Keras' names, indices and trainable flags, losses and
// optimizers. Layers compute through package dnnl; package tensor holds the
// reference kernels the tests compare against.
package nn

import (
	"fmt"

	"trashsort/tensor"
)

// Param is one weight of a layer, named as in Keras ("kernel", "bias",
// "gamma", "beta", "moving_mean", "moving_variance", "depthwise_kernel").
type Param struct {
	Name  string
	Value *tensor.Tensor
	// Grad accumulates the gradient during a backward pass; nil for
	// non-trainable weights such as BatchNorm's moving statistics.
	Grad *tensor.Tensor
	// version counts writes to Value, so derived caches (folded weights) know when to refresh.
	version int
}

// Trainable reports whether the weight is learned by gradient descent
// (Keras' trainable_weights), as opposed to updated by the layer itself.
func (p *Param) Trainable() bool { return p.Grad != nil }

// Touch records that Value changed; call it after writing weights directly.
func (p *Param) Touch() { p.version++ }

func newParam(name string, trainable bool, shape ...int) *Param {
	p := &Param{Name: name, Value: tensor.New(shape...)}
	if trainable {
		p.Grad = tensor.New(shape...)
	}
	return p
}

// Mode tells a layer how to run one forward pass.
type Mode struct {
	// Training selects batch statistics in BatchNorm and active dropout.
	// It is false for frozen layers even while the model trains.
	Training bool
	// Keep asks the layer to remember what its backward pass needs.
	Keep bool

	arena *arena // where outputs come from; nil: fresh allocations
	bf16  bool   // convolutions in bfloat16, forward and backward (Model.TrainBF16)
}

// Layer is one Keras layer. Shapes exclude the batch dimension.
type Layer interface {
	// Base returns the common fields: name, class, trainable flag, graph links.
	Base() *LayerBase
	// Params lists the layer's weights in Keras' order.
	Params() []*Param
	// OutputShape computes the output shape from the input shapes, or an
	// error naming the layer and the shapes when they do not fit.
	OutputShape(in [][]int) ([]int, error)
	// Forward runs the layer on a batch.
	Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error)
	// Backward takes the gradient of the output and returns the gradients of
	// the inputs for which need[i] is true (nil elsewhere); it adds the
	// weight gradients into Param.Grad. It needs a Forward with Keep first.
	Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error)
}

// LayerBase holds what every layer has.
type LayerBase struct {
	name      string
	class     string
	Trainable bool
	// set by the graph builder
	index    int
	inputs   []int
	inShapes [][]int
	outShape []int
	// grads is the arena that gradient buffers come from while
	// Model.Backward runs the layer's backward pass (see gradBuf).
	grads *arena
}

// Name is the layer's Keras name, e.g. "conv2d_81".
func (b *LayerBase) Name() string { return b.name }

// Class is the layer's Keras class name, e.g. "Conv2D".
func (b *LayerBase) Class() string { return b.class }

// Index is the layer's position in Model.Layers.
func (b *LayerBase) Index() int { return b.index }

// OutShape is the layer's output shape without the batch dimension.
func (b *LayerBase) OutShape() []int { return b.outShape }

// Inputs are the indices of the layers feeding this one.
func (b *LayerBase) Inputs() []int { return b.inputs }

// Base returns b itself, so that embedding types satisfy Layer.Base.
func (b *LayerBase) Base() *LayerBase { return b }

func newBase(name, class string) LayerBase {
	return LayerBase{name: name, class: class, Trainable: true}
}

func shapeErr(b *LayerBase, format string, args ...any) error {
	return fmt.Errorf("layer %q (%s): %s", b.name, b.class, fmt.Sprintf(format, args...))
}

// batchShape prepends the batch size to a per-example shape.
func batchShape(n int, s []int) []int { return append([]int{n}, s...) }

func oneInput(b *LayerBase, in [][]int, rank int) ([]int, error) {
	if len(in) != 1 {
		return nil, shapeErr(b, "takes 1 input, got %d", len(in))
	}
	if rank > 0 && len(in[0]) != rank {
		return nil, shapeErr(b, "needs an input of rank %d (without batch), got shape %v", rank, in[0])
	}
	return in[0], nil
}

func checkBatch(b *LayerBase, x *tensor.Tensor, want []int) error {
	if len(x.Shape) != len(want)+1 || !tensor.SameShape(x.Shape[1:], want) {
		return shapeErr(b, "expected input shape [N %v], got %v", want, x.Shape)
	}
	return nil
}
