package nn

import (
	"math"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// Inference fusion: a frozen Conv2D -> BatchNormalization [-> ReLU/ReLU6]
// chain runs as one oneDNN convolution with the normalization folded into
// the kernel and bias and the activation as a post-op. The folded weights
// are cached and refreshed when any of the underlying weights change.

type folded struct {
	w, b     []float32
	packed   *dnnl.ConvWeights // w and b, reordered once per layout
	versions []int
}

type fusionCache struct {
	plans map[int]fusionPlan
	fold  map[int]*folded
}

type fusionPlan struct {
	bn, act int // layer indices; act is -1 without an activation
	kind    int // tensor.Linear, ReLU or ReLU6
}

// planFusions finds every Conv2D whose only consumer is a BatchNormalization,
// optionally followed by its only consumer, a ReLU or ReLU6.
func (m *Model) planFusions() {
	m.fusions.plans = map[int]fusionPlan{}
	m.fusions.fold = map[int]*folded{}
	for i, l := range m.Layers {
		c, ok := l.(*Conv2D)
		if !ok || c.Activation != tensor.Linear || len(m.consumers[i]) != 1 {
			continue
		}
		j := m.consumers[i][0]
		if _, ok := m.Layers[j].(*BatchNormalization); !ok {
			continue
		}
		p := fusionPlan{bn: j, act: -1}
		if len(m.consumers[j]) == 1 {
			k := m.consumers[j][0]
			if a, ok := m.Layers[k].(*Activation); ok && (a.Kind == "relu" || a.Kind == "relu6") {
				p.act = k
				p.kind, _ = actKind(a.Kind)
			}
		}
		m.fusions.plans[i] = p
	}
}

func versions(ps ...*Param) []int {
	v := make([]int, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			v = append(v, p.version)
		} else {
			v = append(v, -1)
		}
	}
	return v
}

// foldedWeights returns conv's kernel and bias with bn folded in.
func (m *Model) foldedWeights(i int, c *Conv2D, bn *BatchNormalization) *folded {
	v := versions(c.kernel, c.bias, bn.gamma, bn.beta, bn.movingMean, bn.movingVar)
	if f, ok := m.fusions.fold[i]; ok && tensor.SameShape(f.versions, v) {
		return f
	}
	k := c.kernel.Value.Data
	nf := len(bn.movingMean.Value.Data)
	scale := make([]float64, nf)
	b := make([]float32, nf)
	for f := 0; f < nf; f++ {
		s := 1 / math.Sqrt(float64(bn.movingVar.Value.Data[f]+bn.Epsilon))
		if bn.gamma != nil {
			s *= float64(bn.gamma.Value.Data[f])
		}
		scale[f] = s
		bias := 0.0
		if c.bias != nil {
			bias = float64(c.bias.Value.Data[f])
		}
		shift := 0.0
		if bn.beta != nil {
			shift = float64(bn.beta.Value.Data[f])
		}
		b[f] = float32((bias-float64(bn.movingMean.Value.Data[f]))*s + shift)
	}
	w := make([]float32, len(k))
	for idx, v := range k {
		w[idx] = float32(float64(v) * scale[idx%nf])
	}
	f := &folded{w: w, b: b, packed: dnnl.NewConvWeights(w, b), versions: v}
	m.fusions.fold[i] = f
	return f
}

// tryFused computes layer i together with the layers fused into it when the
// whole chain runs in inference mode; it reports whether it did. spec is
// the pass's low-precision plan (nil: all float32) and n its batch size.
func (m *Model) tryFused(i int, r *run, training bool, vals []*tensor.Tensor, refs []int, want []bool, spec []lowSpec, n int) (bool, error) {
	p, last, kind, ok := m.chain(i, r, training, want)
	if !ok {
		return false, nil
	}
	c := m.Layers[i].(*Conv2D)
	bn := m.Layers[p.bn].(*BatchNormalization)
	x := vals[c.inputs[0]]
	var xs, ys lowSpec
	if spec != nil {
		xs, ys = spec[c.inputs[0]], spec[last]
	}
	shape := c.inShapes[0]
	if xs.dt == dnnl.F32 {
		if err := checkBatch(&c.LayerBase, x, shape); err != nil {
			return false, err
		}
		n = x.Shape[0]
	}
	g, err := c.geom(n, shape)
	if err != nil {
		return false, err
	}
	f := m.foldedWeights(i, c, bn)
	var y *tensor.Tensor
	if ys.dt == dnnl.F32 {
		y = m.buffers.get(g.N, g.OH, g.OW, g.F)
	} else {
		y = m.lowTensor(ys, []int{g.N, g.OH, g.OW, g.F})
	}
	dt, rng := m.computeType(c)
	err = f.packed.ForwardAct(g, actOf(x, xs), actOf(y, ys), dnnl.Activation(kind), dt, rng)
	if err == nil && m.calibrating != notCalibrating && !c.Depthwise {
		err = m.record(c.name, g, f.packed, x.Data, y.Data, dnnl.Activation(kind))
	}
	if err != nil {
		m.buffers.drop(y)
		return false, shapeErr(&c.LayerBase, "%v", err)
	}
	vals[last] = y
	m.buffers.hold(y)
	r.done[p.bn] = true
	if last == p.act {
		r.done[p.act] = true
	}
	m.release(c.inputs, vals, refs, want)
	return true, nil
}
