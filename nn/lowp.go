package nn

import (
	"unsafe"

	"trashsort/dnnl"
	"trashsort/internal/disjoint"
	"trashsort/tensor"
)

// Low-precision activations between frozen layers. In inference with BF16
// or Int8 set, a fused convolution chain whose every reader computes in
// that precision anyway writes its output in bfloat16 or u8 instead of
// float32, and pooling and concatenation pass such outputs on in the same
// type, so that the conversions around each convolution, and three
// quarters (u8) or half (bfloat16) of the activation traffic, disappear.
// A value leaves the low precision only where a reader cannot take it
// (any other layer, a requested output): those values stay float32.
//
// u8 values carry one scale per tensor, chosen from the calibrated input
// ranges of the convolutions that read them (the narrowest); the branches of a
// concatenation, and a pooling's input and output, share one scale.

// lowSpec is the storage of one layer's output in a pass: float32 (the
// zero value), bfloat16, or u8 with a scale.
type lowSpec struct {
	dt    dnnl.DataType
	scale float32
}

// chain describes how a fused convolution chain headed by layer i runs in
// this pass: its plan, the index of its last layer, the fused activation,
// and whether it runs fused at all.
func (m *Model) chain(i int, r *run, training bool, want []bool) (p fusionPlan, last, kind int, ok bool) {
	if m.fusions.plans == nil {
		m.planFusions()
	}
	p, ok = m.fusions.plans[i]
	if !ok || want[i] || r.fed[p.bn] || !r.needed[p.bn] {
		return p, 0, 0, false
	}
	bn := m.Layers[p.bn].(*BatchNormalization)
	if training && (r.reqGrad[i] || r.reqGrad[p.bn] || bn.Trainable) {
		return p, 0, 0, false
	}
	last, kind = p.bn, tensor.Linear
	if p.act >= 0 && !want[p.bn] && r.needed[p.act] && !r.fed[p.act] && !(training && r.reqGrad[p.act]) {
		last, kind = p.act, p.kind
	}
	return p, last, kind, true
}

// computeType is the data type a fused chain headed by c computes in, and
// its calibrated input range for int8.
func (m *Model) computeType(c *Conv2D) (dnnl.DataType, Int8Range) {
	if m.calibrating != notCalibrating {
		return dnnl.F32, Int8Range{}
	}
	dt := dnnl.F32
	if m.BF16 && dnnl.HasBF16() {
		dt = dnnl.BF16
	}
	rng, quant := m.int8[c.name]
	if quant && m.Int8 && rng.Err <= m.int8MaxErr() {
		dt = dnnl.U8
	}
	return dt, rng
}

// planLow chooses the storage of every layer output of pass r (nil: all
// float32).
func (m *Model) planLow(r *run, training bool, want []bool) []lowSpec {
	var target dnnl.DataType
	switch {
	case m.calibrating != notCalibrating || m.allFloat32:
		return nil
	case m.Int8 && dnnl.HasVNNI():
		// u8 between layers needs VNNI: without it a stored code above
		// 127 would overflow the kernels' 16-bit sums (dnnl.U8Top), and
		// each convolution quantizes its float32 input to s8 itself.
		target = dnnl.U8
	case m.BF16 && dnnl.HasBF16():
		target = dnnl.BF16
	default:
		return nil
	}
	n := len(m.Layers)
	active := func(i int) bool { return r.needed[i] && !r.fed[i] && !r.done[i] }
	head := make([]int, n) // conv head of a fused chain, by its last layer; -1 elsewhere
	fuses := make([]bool, n)
	for i := range head {
		head[i] = -1
	}
	cand := make([]bool, n)
	for i, l := range m.Layers {
		if !active(i) {
			continue
		}
		switch t := l.(type) {
		case *Conv2D:
			_, last, kind, ok := m.chain(i, r, training, want)
			if !ok {
				continue
			}
			fuses[i], head[last] = true, i
			dt, _ := m.computeType(t)
			cand[last] = !want[last] && dt == target && (target == dnnl.BF16 || kind == tensor.ReLU || kind == tensor.ReLU6)
		case *Pooling2D:
			cand[i] = !want[i] && !(training && r.reqGrad[i]) && cand[t.inputs[0]]
		case *Concatenate:
			if want[i] || training && r.reqGrad[i] || len(t.inputs) > 7 {
				continue
			}
			cand[i] = true
			for _, j := range t.inputs {
				cand[i] = cand[i] && cand[j]
			}
		}
	}
	// Drop values some reader cannot take, until every reader can.
	for changed := true; changed; {
		changed = false
		for t := 0; t < n; t++ {
			if !cand[t] {
				continue
			}
			ok := true
			if l, ins := m.Layers[t], m.Layers[t].Base().inputs; isPoolOrConcat(l) {
				for _, j := range ins {
					ok = ok && cand[j]
				}
			}
			for _, c := range m.consumers[t] {
				if !r.needed[c] || r.fed[c] {
					continue
				}
				switch m.Layers[c].(type) {
				case *Conv2D:
					ok = ok && fuses[c]
				case *Pooling2D, *Concatenate:
					ok = ok && cand[c]
				default:
					ok = false
				}
			}
			if !ok {
				cand[t], changed = false, true
			}
		}
	}
	spec := make([]lowSpec, n)
	some := false
	for t := range cand {
		if cand[t] {
			spec[t].dt, some = target, true
		}
	}
	if !some {
		return nil
	}
	if target == dnnl.U8 {
		m.planScales(r, cand, spec)
	}
	return spec
}

func isPoolOrConcat(l Layer) bool {
	switch l.(type) {
	case *Pooling2D, *Concatenate:
		return true
	}
	return false
}

// planScales gives each group of u8 values that must share a scale (a
// pooling's input and output, a concatenation's parts and result) the
// scale of the narrowest calibrated (clipped) range among the convolutions
// reading any of them: the clip calibration chose for a reader trades rare
// saturated values for finer steps, and the narrowest keeps that trade for
// the group (on the 224 px InceptionV3 model, all layers in int8: 320 of
// 328 val answers as float32's and 89.02%, against 318 and 88.41% with the
// widest). A group no calibrated convolution reads stays float32.
func (m *Model) planScales(r *run, cand []bool, spec []lowSpec) {
	n := len(m.Layers)
	sets := disjoint.New(n)
	for t := 0; t < n; t++ {
		if cand[t] && isPoolOrConcat(m.Layers[t]) {
			for _, j := range m.Layers[t].Base().inputs {
				sets.Union(t, j)
			}
		}
	}
	top := make([]float32, n)
	for t := 0; t < n; t++ {
		if !cand[t] {
			continue
		}
		for _, c := range m.consumers[t] {
			conv, ok := m.Layers[c].(*Conv2D)
			if !ok || !r.needed[c] || r.fed[c] {
				continue
			}
			rng, ok := m.int8[conv.name]
			if !ok || !(rng.Max > 0) {
				continue
			}
			hi := rng.Max
			if rng.Clip > 0 && rng.Clip < 1 {
				hi *= rng.Clip
			}
			g := sets.Find(t)
			if top[g] == 0 || hi < top[g] {
				top[g] = hi
			}
		}
	}
	for t := 0; t < n; t++ {
		if !cand[t] {
			continue
		}
		if hi := top[sets.Find(t)]; hi > 0 {
			spec[t].scale = dnnl.U8Top() / hi
		} else {
			spec[t] = lowSpec{}
		}
	}
}

// lowTensor allocates from the arena the storage of a value of shape in
// type s.dt; the tensor is a flat float32 view of those bytes.
func (m *Model) lowTensor(s lowSpec, shape []int) *tensor.Tensor {
	return m.buffers.get((s.dt.Size(tensor.Numel(shape)) + 3) / 4)
}

// actOf is the dnnl view of value t stored as s.
func actOf(t *tensor.Tensor, s lowSpec) dnnl.Act {
	if s.dt == dnnl.F32 {
		return dnnl.ActF32(t.Data)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&t.Data[0])), 4*len(t.Data))
	return dnnl.Act{Type: s.dt, Scale: s.scale, Data: b}
}

// forwardLow runs pooling or concatenation layer i on low-precision
// inputs; vals holds the inputs' storage and n is the batch size.
func (m *Model) forwardLow(i int, vals []*tensor.Tensor, spec []lowSpec, n int) (*tensor.Tensor, error) {
	s := spec[i]
	l := m.Layers[i]
	b := l.Base()
	y := m.lowTensor(s, batchShape(n, b.outShape))
	var err error
	switch t := l.(type) {
	case *Pooling2D:
		var g tensor.ConvGeom
		if g, err = t.geom(n, t.inShapes[0]); err == nil {
			err = dnnl.PoolForwardAct(dnnl.PoolAlg(t.Kind), g, actOf(vals[t.inputs[0]], spec[t.inputs[0]]), actOf(y, s))
		}
	case *Concatenate:
		parts := make([]dnnl.Act, len(t.inputs))
		for k, j := range t.inputs {
			parts[k] = actOf(vals[j], spec[j])
		}
		rows := n * tensor.Numel(t.inShapes[0]) / t.widths[0]
		err = dnnl.ConcatAct(rows, t.widths, parts, actOf(y, s))
	}
	if err != nil {
		m.buffers.drop(y)
		return nil, shapeErr(b, "%v", err)
	}
	return y, nil
}

// ISA names the instruction set the engine dispatches to on this CPU.
func ISA() string { return dnnl.ISA() }

// HasInt8 reports whether the engine has 8-bit convolution kernels for
// this CPU (else Int8 runs in float32).
func HasInt8() bool { return dnnl.HasInt8() }
