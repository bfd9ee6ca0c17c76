package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"trashsort/tensor"
)

// HasInt8 reports whether oneDNN has 8-bit integer convolution kernels
// for the CPU: the dot-product instructions (VNNI, on AVX-512 or AVX2), or
// AVX2 and AVX-512 without them, where oneDNN multiplies with vpmaddubsw
// and halves the weights' scale so that the 16-bit pair sums cannot
// saturate (as PyTorch's int8 on the same library does). Without it the
// engine falls back to float32.
func HasInt8() bool {
	switch ISA() {
	case "avx2", "avx512_core":
		return true
	}
	return HasVNNI()
}

// HasVNNI reports whether the CPU has the dot-product instructions (VNNI)
// that make 8-bit integer convolutions fastest.
func HasVNNI() bool {
	switch ISA() {
	case "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx", "avx2_vnni":
		return true
	}
	return false
}

// U8Top is the largest code of an unsigned 8-bit convolution input: 255
// with VNNI; 127 without, where the kernels add pairs of u8 x s8 products
// in 16 bits (vpmaddubsw), which 255 x 127 x 2 would overflow (fbgemm's
// reduce_range makes the same choice).
func U8Top() float32 {
	if HasVNNI() {
		return 255
	}
	return 127
}

// Int8Range is what calibration learned about a convolution's input: the
// largest magnitude seen, and whether it had negative values (then the
// input is quantized to s8, else to u8, which has twice the resolution).
type Int8Range struct {
	Max    float32 `json:"max"`
	Signed bool    `json:"signed,omitempty"`
	// Err is the convolution's largest relative error against float32
	// seen in calibration (RelErr over a batch); it does not change the
	// quantization.
	Err float32 `json:"err,omitempty"`
	// Clip is the fraction of Max that the 8-bit range covers (0 means 1):
	// clipping rare large inputs gives the common ones finer steps. Inputs
	// beyond it saturate.
	Clip float32 `json:"clip,omitempty"`
}

// scale is the quantization scale: q = round(x * scale).
func (r Int8Range) scale() float32 {
	top := U8Top()
	if r.Signed {
		top = 127
	}
	m := r.Max
	if r.Clip > 0 && r.Clip < 1 {
		m *= r.Clip
	}
	if m <= 0 || math.IsInf(float64(m), 0) || math.IsNaN(float64(m)) {
		return 1
	}
	return top / m
}

// quantized is a convolution's int8 form for one input range: weights
// quantized per output channel, the bias in the accumulator's units and
// the output scale that maps the accumulator back to float32.
type quantized struct {
	id       uint64
	in       Int8Range
	outScale float32 // u8 output: its scale; 0 for float32 output
	w        []int8
	bias     []float32
	oscale   []float32
}

var int8IDs atomic.Uint64

// quantize computes the int8 form of w and b for inputs in range r:
// weight scale sw[f] = 127 / max|w[., f]|, bias b[f]*sx*sw[f], and output
// scale 1/(sx*sw[f]), so that y = oscale * (sum(xq*wq) + bias'). For a u8
// output of scale out (out > 0) the output scales are multiplied by out.
func quantize(g tensor.ConvGeom, w, b []float32, r Int8Range, out float32) *quantized {
	nf := g.F
	maxAbs := make([]float64, nf)
	for i, v := range w {
		maxAbs[i%nf] = math.Max(maxAbs[i%nf], math.Abs(float64(v)))
	}
	sx := float64(r.scale())
	q := &quantized{id: int8IDs.Add(1), in: r, outScale: out, w: make([]int8, len(w)), bias: make([]float32, nf), oscale: make([]float32, nf)}
	sw := make([]float64, nf)
	for f := range sw {
		sw[f] = 1
		if maxAbs[f] > 0 {
			sw[f] = 127 / maxAbs[f]
		}
		q.oscale[f] = float32(1 / (sx * sw[f]))
		if out > 0 {
			q.oscale[f] = float32(float64(out) / (sx * sw[f]))
		}
		if b != nil {
			q.bias[f] = float32(float64(b[f]) * sx * sw[f])
		}
	}
	for i, v := range w {
		q.w[i] = int8(math.Max(-127, math.Min(127, math.Round(float64(v)*sw[i%nf]))))
	}
	return q
}

type int8Key struct {
	id     uint64
	g      tensor.ConvGeom
	act    Activation
	xT, yT DataType // F32 or U8
}

// qKey names one quantized form of a layer: its input range and, for a
// u8 output, the output's scale (0 for float32 output).
type qKey struct {
	in  Int8Range
	out float32
}

// int8ConvOp builds the int8 convolution of one layer (its scales are baked
// into the primitives): with float32 input, a quantizing reorder first;
// the convolution with weights reordered once at build time; float32
// output, or u8 output when q was made for one (its output scales then
// include the output's scale). The main step's handles are source,
// weights and destination.
func int8ConvOp(q *quantized, g tensor.ConvGeom, act Activation, xT, yT DataType) (*op, error) {
	return cached(int8Key{q.id, g, act, xT, yT}, func() (*op, error) {
		bd := newBuilder()
		bd.o.xStep = -1
		srcT := U8
		if q.in.Signed || !HasVNNI() {
			// Without VNNI an input quantized to s8 saturates at 127 in the
			// reorder, which keeps the 16-bit pair sums in range (U8Top).
			srcT = s8
		}
		srcF, _, _, _, _ := convDescs(g, F32)
		src, err := mdOf(srcT, C.dnnl_nhwc, g.N, g.C, g.H, g.W)
		if err != nil {
			bd.err = err
			return bd.finish(nil)
		}
		dst, err := mdOf(yT, C.dnnl_nhwc, g.N, g.F, g.OH, g.OW)
		if err != nil {
			bd.err = err
			return bd.finish(nil)
		}
		var wUser, wAny C.dnnl_memory_desc_t
		if g.Groups == 1 {
			wUser, _ = mdOf(s8, C.dnnl_hwio, g.F, g.C, g.KH, g.KW)
			wAny, bd.err = mdOf(s8, C.dnnl_format_tag_any, g.F, g.C, g.KH, g.KW)
		} else {
			gr := g.Groups
			wUser, _ = mdOf(s8, C.dnnl_hwigo, gr, g.F/gr, g.C/gr, g.KH, g.KW)
			wAny, bd.err = mdOf(s8, C.dnnl_format_tag_any, gr, g.F/gr, g.C/gr, g.KH, g.KW)
		}
		bm, _ := md(C.dnnl_a, g.F)
		strides, padL, padR := convGeomArrays(g)
		var cd C.dnnl_convolution_desc_t
		if bd.err == nil {
			bd.err = check(C.dnnl_convolution_forward_desc_init(&cd, C.dnnl_forward_inference, C.dnnl_convolution_direct, &src, &wAny, &bm, &dst, &strides[0], &padL[0], &padR[0]), "int8 convolution")
		}
		// The output scales apply before the post-op: a clip's bounds are
		// in the output's units.
		attr := bd.postOpScaled(act, q.outScale)
		if bd.err == nil && attr == nil {
			bd.err = check(C.dnnl_primitive_attr_create(&attr), "attr")
		}
		defer freeAttr(attr)
		if bd.err == nil {
			// Output channels are dimension 1 of the destination.
			bd.err = check(C.dnnl_primitive_attr_set_output_scales(attr, C.dnnl_dim_t(g.F), 1<<1, (*C.float)(unsafe.Pointer(&q.oscale[0]))), "output scales")
		}
		pd := bd.pd(unsafe.Pointer(&cd), attr, nil, fmt.Sprintf("int8 convolution %+v", g))
		if bd.err != nil {
			return bd.finish(nil)
		}
		var mq C.dnnl_memory_t
		if xT == F32 {
			mq = bd.temp(&src, 0)
		} else {
			mq = bd.memory(&src, false)
		}
		if xT == F32 {
			mx := bd.memory(&srcF, false)
			bd.o.xStep = len(bd.o.steps)
			sx := C.float(q.in.scale())
			bd.reorderScaled(&srcF, &src, mx, mq, &sx)
		}
		wWant := bd.query(pd, C.dnnl_query_weights_md)
		mwu := bd.memory(&wUser, false)
		mw := bd.memory(wWant, true)
		bd.o.wStep = len(bd.o.steps)
		bd.reorder(&wUser, wWant, mwu, mw)
		mb := bd.memory(&bm, true)
		bd.step(pd, C.DNNL_ARG_SRC, mq, C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DST, bd.memory(&dst, false), C.DNNL_ARG_BIAS, mb)
		o, err := bd.finish(pd)
		if err != nil {
			return nil, err
		}
		// The weights and bias are this layer's: put them in place once.
		if err := o.run(o.wStep, h{unsafe.Pointer(&q.w[0])}); err != nil {
			return nil, err
		}
		var bp unsafe.Pointer
		if err := check(C.dnnl_memory_get_data_handle(mb, &bp), "bias buffer"); err != nil {
			return nil, err
		}
		copy(unsafe.Slice((*float32)(bp), g.F), q.bias)
		return o, nil
	})
}

// ForwardInt8 computes y = act(conv(x, w) + b) with x quantized to 8 bits
// for inputs in range r (from calibration; values beyond it saturate) and
// the weights quantized per output channel; products accumulate in 32-bit
// integers and y is float32. On CPUs without VNNI it computes in float32.
func (cw *ConvWeights) ForwardInt8(g tensor.ConvGeom, x, y []float32, act Activation, r Int8Range) error {
	return cw.ForwardAct(g, ActF32(x), ActF32(y), act, U8, r)
}

// int8Op returns the quantized form of the held weights for input range r
// and output scale out (0 for float32 output) and its op. It runs on the
// oneDNN thread.
func (cw *ConvWeights) int8Op(g tensor.ConvGeom, act Activation, r Int8Range, xT, yT DataType, out float32) (*op, error) {
	r.Err = 0
	k := qKey{r, out}
	q, ok := cw.int8[k]
	if !ok {
		q = quantize(g, cw.w, cw.b, r, out)
		cw.int8[k] = q
	}
	return int8ConvOp(q, g, act, xT, yT)
}
