package nn

import (
	"math"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// BatchNormalization is Keras' BatchNormalization over the last axis. In
// training mode it normalizes with the batch's statistics (biased variance)
// and updates moving = moving*Momentum + batch*(1-Momentum); otherwise, and
// always when the layer is frozen, it uses the moving statistics.
type BatchNormalization struct {
	LayerBase
	Momentum float32
	Epsilon  float32
	Center   bool
	Scale    bool

	gamma, beta, movingMean, movingVar *Param

	x              *tensor.Tensor
	batchMean      []float32
	batchVar       []float32
	trainedForward bool
}

// NewBatchNormalization returns a BatchNormalization with Keras' defaults
// (momentum 0.99, epsilon 1e-3, center and scale on).
func NewBatchNormalization(name string) *BatchNormalization {
	return &BatchNormalization{LayerBase: newBase(name, "BatchNormalization"), Momentum: 0.99, Epsilon: 1e-3, Center: true, Scale: true}
}

// Params returns gamma, beta, moving_mean, moving_variance (as present), in Keras' order.
func (b *BatchNormalization) Params() []*Param {
	var ps []*Param
	for _, p := range []*Param{b.gamma, b.beta, b.movingMean, b.movingVar} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// OutputShape creates the per-channel weights; the shape passes through.
func (b *BatchNormalization) OutputShape(in [][]int) ([]int, error) {
	s, err := oneInput(&b.LayerBase, in, 0)
	if err != nil {
		return nil, err
	}
	c := s[len(s)-1]
	if b.Scale {
		b.gamma = newParam("gamma", true, c)
		fill(b.gamma.Value.Data, 1)
	}
	if b.Center {
		b.beta = newParam("beta", true, c)
	}
	b.movingMean = newParam("moving_mean", false, c)
	b.movingVar = newParam("moving_variance", false, c)
	fill(b.movingVar.Value.Data, 1)
	return s, nil
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

func data(p *Param) []float32 {
	if p == nil {
		return nil
	}
	return p.Value.Data
}

// Forward normalizes with batch or moving statistics.
func (b *BatchNormalization) Forward(in []*tensor.Tensor, m Mode) (*tensor.Tensor, error) {
	x := in[0]
	if err := checkBatch(&b.LayerBase, x, b.inShapes[0]); err != nil {
		return nil, err
	}
	c := x.Shape[len(x.Shape)-1]
	rows := x.Len() / c
	y := m.alloc(x.Shape...)
	b.x, b.trainedForward = nil, m.Training
	if !m.Training {
		if err := dnnl.BatchNormInference(rows, c, x.Data, data(b.gamma), data(b.beta), b.movingMean.Value.Data, b.movingVar.Value.Data, b.Epsilon, y.Data); err != nil {
			return nil, shapeErr(&b.LayerBase, "%v", err)
		}
		if m.Keep {
			b.x = x
		}
		return y, nil
	}
	mean, variance := make([]float32, c), make([]float32, c)
	if err := dnnl.BatchNormTraining(rows, c, x.Data, data(b.gamma), data(b.beta), b.Epsilon, y.Data, mean, variance); err != nil {
		return nil, shapeErr(&b.LayerBase, "%v", err)
	}
	mm, mv := b.movingMean.Value.Data, b.movingVar.Value.Data
	for k := 0; k < c; k++ {
		mm[k] = mm[k]*b.Momentum + mean[k]*(1-b.Momentum)
		mv[k] = mv[k]*b.Momentum + variance[k]*(1-b.Momentum)
	}
	b.movingMean.Touch()
	b.movingVar.Touch()
	if m.Keep {
		b.x, b.batchMean, b.batchVar = x, mean, variance
	}
	return y, nil
}

// Backward differentiates through the statistics the forward pass used.
func (b *BatchNormalization) Backward(dy *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if b.x == nil {
		return nil, shapeErr(&b.LayerBase, "backward without a kept forward pass")
	}
	c := dy.Shape[len(dy.Shape)-1]
	rows := dy.Len() / c
	dx := b.gradBuf(dy.Shape...)
	if !b.trainedForward {
		// Frozen: fixed statistics, y = x*s + t.
		tensor.BatchNormBackwardFrozen(c, dy.Data, data(b.gamma), b.movingVar.Value.Data, b.Epsilon, dx.Data)
		if b.Trainable {
			b.frozenParamGrads(c, dy.Data)
		}
		return []*tensor.Tensor{dx}, nil
	}
	var dg, dbeta []float32
	if b.gamma != nil {
		dg = make([]float32, c)
	}
	if b.beta != nil {
		dbeta = make([]float32, c)
	}
	if err := dnnl.BatchNormBackward(rows, c, b.x.Data, dy.Data, data(b.gamma), b.batchMean, b.batchVar, b.Epsilon, b.beta != nil, dx.Data, dg, dbeta); err != nil {
		return nil, shapeErr(&b.LayerBase, "%v", err)
	}
	if b.gamma != nil {
		addInto(b.gamma.Grad.Data, dg)
	}
	if b.beta != nil {
		addInto(b.beta.Grad.Data, dbeta)
	}
	return []*tensor.Tensor{dx}, nil
}

// frozenParamGrads adds gamma and beta gradients for a trainable layer run
// with moving statistics (a model trained in inference mode).
func (b *BatchNormalization) frozenParamGrads(c int, dy []float32) {
	mm, mv := b.movingMean.Value.Data, b.movingVar.Value.Data
	for i, d := range dy {
		k := i % c
		if b.beta != nil {
			b.beta.Grad.Data[k] += d
		}
		if b.gamma != nil {
			xh := (b.x.Data[i] - mm[k]) / float32(math.Sqrt(float64(mv[k]+b.Epsilon)))
			b.gamma.Grad.Data[k] += d * xh
		}
	}
}
