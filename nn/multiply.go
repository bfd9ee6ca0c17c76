package nn

import (
	"trashsort/dnnl"
	"trashsort/tensor"
)

// Multiply is Keras' Multiply of two inputs of the same rank whose
// dimensions are equal or 1 (broadcast), such as a feature map and its
// squeeze-and-excitation weights [1, 1, C].
type Multiply struct {
	LayerBase
	a, b *tensor.Tensor
}

// NewMultiply returns a Multiply layer.
func NewMultiply(name string) *Multiply { return &Multiply{LayerBase: newBase(name, "Multiply")} }

// Params returns nil.
func (l *Multiply) Params() []*Param { return nil }

// OutputShape is the broadcast shape of the two inputs.
func (l *Multiply) OutputShape(in [][]int) ([]int, error) {
	if len(in) != 2 {
		return nil, shapeErr(&l.LayerBase, "takes 2 inputs, got %d", len(in))
	}
	out, err := tensor.BroadcastShape(in[0], in[1])
	if err != nil {
		return nil, shapeErr(&l.LayerBase, "%v", err)
	}
	if !tensor.SameShape(out, in[0]) && !tensor.SameShape(out, in[1]) {
		return nil, shapeErr(&l.LayerBase, "one of the inputs %v must have the output's shape", in)
	}
	return out, nil
}

// big returns the index of the input with the output's shape.
func (l *Multiply) big() int {
	if tensor.SameShape(l.inShapes[0], l.outShape) {
		return 0
	}
	return 1
}

// Forward multiplies elementwise through oneDNN.
func (l *Multiply) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	for i, x := range in {
		if err := checkBatch(&l.LayerBase, x, l.inShapes[i]); err != nil {
			return nil, err
		}
	}
	a, b := in[l.big()], in[1-l.big()]
	y := tensor.New(a.Shape...)
	if err := dnnl.MulBroadcast(a.Shape, b.Shape, a.Data, b.Data, y.Data); err != nil {
		return nil, shapeErr(&l.LayerBase, "%v", err)
	}
	l.a, l.b = nil, nil
	if m.Keep {
		l.a, l.b = a, b
	}
	return y, nil
}

// Backward: the full-shaped input gets dy times the other, the broadcast
// one the sum of dy times the other over its broadcast dimensions.
func (l *Multiply) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if l.a == nil {
		return nil, shapeErr(&l.LayerBase, "backward without a kept forward pass")
	}
	ia, ib := l.big(), 1-l.big()
	out := make([]*tensor.Tensor, 2)
	if need[ia] {
		da := tensor.New(dy.Shape...)
		if err := dnnl.MulBroadcast(dy.Shape, l.b.Shape, dy.Data, l.b.Data, da.Data); err != nil {
			return nil, shapeErr(&l.LayerBase, "%v", err)
		}
		out[ia] = da
	}
	if need[ib] {
		prod := tensor.New(dy.Shape...)
		if err := dnnl.MulBroadcast(dy.Shape, dy.Shape, dy.Data, l.a.Data, prod.Data); err != nil {
			return nil, shapeErr(&l.LayerBase, "%v", err)
		}
		db := tensor.New(l.b.Shape...)
		if err := dnnl.SumTo(dy.Shape, l.b.Shape, prod.Data, db.Data); err != nil {
			return nil, shapeErr(&l.LayerBase, "%v", err)
		}
		out[ib] = db
	}
	return out, nil
}
