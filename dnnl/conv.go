package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"trashsort/tensor"
)

type convKey struct {
	prop prop // inference, backwardData or backwardWeights
	dt   DataType
	g    tensor.ConvGeom
	bias bool
	act  Activation
}

// convDescs returns the NHWC source and destination descriptors in float32,
// the user's Keras-layout weights in float32, and the "any" layout weights
// of data type dt for the primitive to choose.
func convDescs(g tensor.ConvGeom, dt DataType) (src, dst, wUser, wAny C.dnnl_memory_desc_t, err error) {
	if src, err = md(C.dnnl_nhwc, g.N, g.C, g.H, g.W); err != nil {
		return
	}
	if dst, err = md(C.dnnl_nhwc, g.N, g.F, g.OH, g.OW); err != nil {
		return
	}
	if g.Groups == 1 {
		if wUser, err = md(C.dnnl_hwio, g.F, g.C, g.KH, g.KW); err != nil {
			return
		}
		wAny, err = mdOf(dt, C.dnnl_format_tag_any, g.F, g.C, g.KH, g.KW)
		return
	}
	gr := g.Groups
	if wUser, err = md(C.dnnl_hwigo, gr, g.F/gr, g.C/gr, g.KH, g.KW); err != nil {
		return
	}
	wAny, err = mdOf(dt, C.dnnl_format_tag_any, gr, g.F/gr, g.C/gr, g.KH, g.KW)
	return
}

func convGeomArrays(g tensor.ConvGeom) (strides, padL, padR C.dnnl_dims_t) {
	C.ts_dims2(&strides[0], C.int64_t(g.SH), C.int64_t(g.SW))
	C.ts_dims2(&padL[0], C.int64_t(g.PadT), C.int64_t(g.PadL))
	C.ts_dims2(&padR[0], C.int64_t(g.PadB), C.int64_t(g.PadR))
	return
}

func checkLens(what string, pairs ...int) error {
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i] < pairs[i+1] {
			return fmt.Errorf("dnnl: %s: buffer %d has %d values, needs %d", what, i/2, pairs[i], pairs[i+1])
		}
	}
	return nil
}

func validGeom(g tensor.ConvGeom) error {
	if g.N < 1 || g.H < 1 || g.W < 1 || g.C < 1 || g.F < 1 || g.OH < 1 || g.OW < 1 || g.Groups < 1 {
		return fmt.Errorf("dnnl: invalid geometry %+v", g)
	}
	return nil
}

// convForwardPD creates a forward convolution primitive descriptor whose
// source and weights are of data type dt (the destination is float32).
func (b *builder) convForwardPD(g tensor.ConvGeom, p prop, dt DataType, bias bool, act Activation) C.dnnl_primitive_desc_t {
	return b.convForwardPDTo(g, p, dt, F32, bias, act)
}

// convForwardPDTo is convForwardPD with a destination of data type yT.
func (b *builder) convForwardPDTo(g tensor.ConvGeom, p prop, dt, yT DataType, bias bool, act Activation) C.dnnl_primitive_desc_t {
	return b.convForwardPDAlg(g, p, dt, yT, bias, act, false)
}

// winogradOK reports whether g is a convolution oneDNN can compute with
// its Winograd F(4x4, 3x3) kernel: 3x3, stride 1, not grouped.
func winogradOK(g tensor.ConvGeom) bool {
	return g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.Groups == 1
}

// convForwardPDAlg is convForwardPDTo, with the Winograd algorithm when
// wino is set: its source and destination are then in the blocked layout
// the kernel picks, and creating it fails where the CPU has no such kernel.
func (b *builder) convForwardPDAlg(g tensor.ConvGeom, p prop, dt, yT DataType, bias bool, act Activation, wino bool) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	tag := C.int(C.dnnl_nhwc)
	alg := C.dnnl_alg_kind_t(C.dnnl_convolution_direct)
	if wino {
		tag, alg = C.dnnl_format_tag_any, C.dnnl_convolution_winograd
	}
	_, _, _, wAny, err := convDescs(g, dt)
	if err != nil {
		b.err = err
		return nil
	}
	src, err := mdOf(dt, tag, g.N, g.C, g.H, g.W)
	if err != nil {
		b.err = err
		return nil
	}
	dst, err := mdOf(yT, tag, g.N, g.F, g.OH, g.OW)
	if err != nil {
		b.err = err
		return nil
	}
	strides, padL, padR := convGeomArrays(g)
	var bmd *C.dnnl_memory_desc_t
	if bias {
		m, err := md(C.dnnl_a, g.F)
		if err != nil {
			b.err = err
			return nil
		}
		bmd = &m
	}
	var cd C.dnnl_convolution_desc_t
	if b.err = check(C.dnnl_convolution_forward_desc_init(&cd, p.kind(), alg, &src, &wAny, bmd, &dst, &strides[0], &padL[0], &padR[0]), "convolution forward"); b.err != nil {
		return nil
	}
	attr := b.postOp(act)
	defer freeAttr(attr)
	return b.pd(unsafe.Pointer(&cd), attr, nil, fmt.Sprintf("convolution forward %+v", g))
}

// convIO is a forward inference convolution computed in data type dt
// (F32 or BF16) on an input stored as xT (a u8 input of scale xScale) with
// an output stored as yT (F32, or BF16 when dt is). With wino set, a
// float32 3x3 stride-1 convolution uses oneDNN's Winograd kernel where it
// has one (see Winograd).
type convIO struct {
	g          tensor.ConvGeom
	dt, xT, yT DataType
	xScale     float32
	bias       bool
	act        Activation
	wino       bool
}

// convForwardOp is the cached forward convolution of data type dt on
// float32 input and output.
func convForwardOp(g tensor.ConvGeom, dt DataType, bias bool, act Activation) (*op, error) {
	return convIOOp(convIO{g: g, dt: dt, xT: F32, yT: F32, bias: bias, act: act})
}

// convIOOp is the cached forward convolution k: an optional reorder of the
// input into the type and layout the kernel wants, an optional reorder of
// the user's weights, the convolution, whose handles are source, weights,
// destination and bias, and for a Winograd kernel (k.wino, where oneDNN
// has one) a reorder of its blocked output to NHWC.
func convIOOp(k convIO) (*op, error) {
	return cached(k, func() (*op, error) {
		if k.wino && k.dt == F32 && k.xT != U8 && winogradOK(k.g) {
			if o, err := buildConvIO(k, true); err == nil {
				return o, nil
			}
		}
		return buildConvIO(k, false)
	})
}

// buildConvIO builds convIOOp's op with the Winograd or the direct kernel.
func buildConvIO(k convIO, wino bool) (*op, error) {
	g := k.g
	bd := newBuilder()
	bd.o.xStep, bd.o.wStep, bd.o.yStep = -1, -1, -1
	pd := bd.convForwardPDAlg(g, inference, k.dt, k.yT, k.bias, k.act, wino)
	if bd.err != nil {
		return bd.finish(nil)
	}
	_, _, wUser, _, _ := convDescs(g, F32)
	src, err := mdOf(k.xT, C.dnnl_nhwc, g.N, g.C, g.H, g.W)
	if err != nil {
		bd.err = err
		return bd.finish(nil)
	}
	dst, err := mdOf(k.yT, C.dnnl_nhwc, g.N, g.F, g.OH, g.OW)
	if err != nil {
		bd.err = err
		return bd.finish(nil)
	}
	mx := bd.memory(&src, false)
	if xWant, re := bd.adapt(pd, C.dnnl_query_src_md, &src); re {
		mc := bd.temp(xWant, 0)
		bd.o.xStep = len(bd.o.steps)
		if k.xT == U8 {
			inv := C.float(1 / k.xScale)
			bd.reorderScaled(&src, xWant, mx, mc, &inv)
		} else {
			bd.reorder(&src, xWant, mx, mc)
		}
		mx = mc
	}
	wWant, re := bd.adapt(pd, C.dnnl_query_weights_md, &wUser)
	bd.o.wWant = *wWant
	mwu := bd.memory(&wUser, false)
	mw := mwu
	if re {
		mw = bd.memory(wWant, true)
		bd.o.wStep = len(bd.o.steps)
		bd.reorder(&wUser, wWant, mwu, mw)
		if bd.err == nil {
			bd.err = check(C.dnnl_memory_get_data_handle(mw, &bd.o.wOwn), "weights buffer")
		}
	}
	my := bd.memory(&dst, false)
	yWant, yRe := bd.adapt(pd, C.dnnl_query_dst_md, &dst)
	myK := my
	if yRe {
		myK = bd.temp(yWant, 1)
	}
	args := []any{C.DNNL_ARG_SRC, mx, C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DST, myK}
	if k.bias {
		bm, _ := md(C.dnnl_a, g.F)
		args = append(args, C.DNNL_ARG_BIAS, bd.memory(&bm, false))
	}
	bd.step(pd, args...)
	if yRe {
		bd.o.yStep = len(bd.o.steps)
		bd.reorder(yWant, &dst, myK, my)
	}
	return bd.finish(pd)
}

// runConv runs a convolution op on user weights w, reordered on this call,
// or on weights packed (already reordered) for it when packed is not nil.
func (o *op) runConv(x, w, packed, b, y unsafe.Pointer) error {
	xs := x
	if o.xStep >= 0 {
		if err := o.run(o.xStep, h{x}); err != nil {
			return err
		}
		xs = nil
	}
	if packed == nil {
		packed = w
		if o.wStep >= 0 {
			if err := o.run(o.wStep, h{w, o.wOwn}); err != nil {
				return err
			}
			packed = o.wOwn
		}
	}
	if o.yStep >= 0 {
		if err := o.run(o.yStep-1, h{xs, packed, nil, b}); err != nil {
			return err
		}
		return o.run(o.yStep, h{nil, y})
	}
	return o.run(len(o.steps)-1, h{xs, packed, y, b})
}

func checkConvForward(what string, g tensor.ConvGeom, x, w, b, y []float32) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if err := checkLens(what, len(x), g.InLen(), len(w), g.WeightLen(), len(y), g.OutLen()); err != nil {
		return err
	}
	if b != nil && len(b) < g.F {
		return fmt.Errorf("dnnl: %s: bias has %d values, needs %d", what, len(b), g.F)
	}
	return nil
}

// ConvForward computes y = act(conv(x, w) + b) for NHWC x and y and Keras
// layout weights ([KH, KW, C, F], or [KH, KW, C, F/C] when Groups == C).
// b may be nil. The weights are reordered on every call; frozen weights
// are better held in ConvWeights.
func ConvForward(g tensor.ConvGeom, x, w, b, y []float32, act Activation) error {
	if err := checkConvForward("convolution forward", g, x, w, b, y); err != nil {
		return err
	}
	return do(func() error {
		o, err := convForwardOp(g, F32, b != nil, act)
		if err != nil {
			return err
		}
		return o.runConv(ptr(x), ptr(w), nil, ptr(b), ptr(y))
	})
}

// ConvWeights are the weights and bias of a frozen convolution, reordered
// once for each layout the kernels oneDNN picks want (per data type and
// batch size), instead of on every call as ConvForward does.
type ConvWeights struct {
	w, b  []float32
	packs map[C.dnnl_memory_desc_t]unsafe.Pointer
	bufs  [][]byte
	int8  map[qKey]*quantized
}

// NewConvWeights holds Keras-layout weights w and bias b (may be nil). They
// must not change while the ConvWeights are in use.
func NewConvWeights(w, b []float32) *ConvWeights {
	return &ConvWeights{w: w, b: b, packs: map[C.dnnl_memory_desc_t]unsafe.Pointer{}, int8: map[qKey]*quantized{}}
}

// packed returns the weights in the layout op o wants, reordering them on
// first use. It runs on the oneDNN thread.
func (cw *ConvWeights) packed(o *op) (unsafe.Pointer, error) {
	if o.wStep < 0 {
		return ptr(cw.w), nil
	}
	if p, ok := cw.packs[o.wWant]; ok {
		return p, nil
	}
	size := int(C.dnnl_memory_desc_get_size(&o.wWant))
	buf := make([]byte, size+64)
	p := unsafe.Pointer(&buf[0])
	if r := uintptr(p) % 64; r != 0 {
		p = unsafe.Add(p, 64-r)
	}
	if err := o.run(o.wStep, h{ptr(cw.w), p}); err != nil {
		return nil, err
	}
	cw.packs[o.wWant] = p
	cw.bufs = append(cw.bufs, buf)
	return p, nil
}

// Winograd lets the float32 3x3 stride-1 convolutions of frozen weights
// (ConvWeights) use oneDNN's Winograd F(4x4, 3x3) kernel where the CPU has
// one (AVX-512): it does about a third of the multiplications of the direct
// kernel and runs 2 to 2.6 times faster on InceptionV3's 3x3 layers, with
// relative errors around 1e-6 instead of 1e-7 (a transform, not an
// approximation). In bfloat16 the direct kernel stays faster overall.
// Set it to false before the first convolution to compare.
var Winograd = true

// Forward computes y = act(conv(x, w) + b) in data type dt with the held
// weights; see ConvForward and ConvForwardBF16. In float32, 3x3 stride-1
// convolutions use the Winograd kernel (see Winograd).
func (cw *ConvWeights) Forward(g tensor.ConvGeom, x, y []float32, act Activation, dt DataType) error {
	if err := checkConvForward("convolution forward ("+dt.String()+")", g, x, cw.w, cw.b, y); err != nil {
		return err
	}
	return do(func() error {
		o, err := convIOOp(convIO{g: g, dt: dt, xT: F32, yT: F32, bias: cw.b != nil, act: act, wino: Winograd})
		if err != nil {
			return err
		}
		p, err := cw.packed(o)
		if err != nil {
			return err
		}
		return o.runConv(ptr(x), nil, p, ptr(cw.b), ptr(y))
	})
}

func checkConvBackwardData(what string, g tensor.ConvGeom, dy, w, dx []float32) error {
	if err := validGeom(g); err != nil {
		return err
	}
	return checkLens(what, len(dy), g.OutLen(), len(w), g.WeightLen(), len(dx), g.InLen())
}

func checkConvBackwardWeights(what string, g tensor.ConvGeom, x, dy, dw, db []float32) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if err := checkLens(what, len(x), g.InLen(), len(dy), g.OutLen(), len(dw), g.WeightLen()); err != nil {
		return err
	}
	if db != nil && len(db) < g.F {
		return fmt.Errorf("dnnl: %s: bias gradient has %d values, needs %d", what, len(db), g.F)
	}
	return nil
}

// ConvBackwardData computes dx from dy and the weights.
func ConvBackwardData(g tensor.ConvGeom, dy, w, dx []float32) error {
	if err := checkConvBackwardData("convolution backward data", g, dy, w, dx); err != nil {
		return err
	}
	key := convKey{backwardData, F32, g, false, Linear}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			hint := bd.convForwardPD(g, training, F32, false, Linear)
			src, dst, wUser, wAny, err := convDescs(g, F32)
			if err != nil {
				bd.err = err
			}
			strides, padL, padR := convGeomArrays(g)
			var cd C.dnnl_convolution_desc_t
			if bd.err == nil {
				bd.err = check(C.dnnl_convolution_backward_data_desc_init(&cd, C.dnnl_convolution_direct, &src, &wAny, &dst, &strides[0], &padL[0], &padR[0]), "convolution backward data")
			}
			pd := bd.pd(unsafe.Pointer(&cd), nil, hint, fmt.Sprintf("convolution backward data %+v", g))
			if bd.err != nil {
				return bd.finish(nil)
			}
			wWant, re := bd.adapt(pd, C.dnnl_query_weights_md, &wUser)
			mdx, mdy := bd.memory(&src, false), bd.memory(&dst, false)
			mwu := bd.memory(&wUser, false)
			mw := mwu
			if re {
				mw = bd.memory(wWant, true)
				bd.reorder(&wUser, wWant, mwu, mw)
			}
			bd.step(pd, C.DNNL_ARG_DIFF_DST, mdy, C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DIFF_SRC, mdx)
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.runWeightsIn(ptr(w), h{ptr(dy), nil, ptr(dx)}, 1)
	})
}

// ConvBackwardWeights adds the gradient of the weights (Keras layout) to dw
// and, when db is not nil, the bias gradient to db, from the forward input
// x and dy. Adding, not overwriting, is how a model accumulates gradients.
// 1x1, 1xk and kx1 stride-1 convolutions that keep the image size use GEMMs
// (see GEMMWeights), the others oneDNN's convolution kernel.
func ConvBackwardWeights(g tensor.ConvGeom, x, dy, dw, db []float32) error {
	if err := checkConvBackwardWeights("convolution backward weights", g, x, dy, dw, db); err != nil {
		return err
	}
	if gemmWeightsOK(g) {
		return do(func() error { return gemmBackwardWeights(g, x, dy, dw, db) })
	}
	key := convKey{backwardWeights, F32, g, db != nil, Linear}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			hint := bd.convForwardPD(g, training, F32, db != nil, Linear)
			src, dst, wUser, wAny, err := convDescs(g, F32)
			if err != nil {
				bd.err = err
			}
			strides, padL, padR := convGeomArrays(g)
			bm, _ := md(C.dnnl_a, g.F)
			var bmd *C.dnnl_memory_desc_t
			if db != nil {
				bmd = &bm
			}
			var cd C.dnnl_convolution_desc_t
			if bd.err == nil {
				bd.err = check(C.dnnl_convolution_backward_weights_desc_init(&cd, C.dnnl_convolution_direct, &src, &wAny, bmd, &dst, &strides[0], &padL[0], &padR[0]), "convolution backward weights")
			}
			pd := bd.pd(unsafe.Pointer(&cd), nil, hint, fmt.Sprintf("convolution backward weights %+v", g))
			if bd.err != nil {
				return bd.finish(nil)
			}
			wWant := bd.query(pd, C.dnnl_query_diff_weights_md)
			mw, mb := bd.gradsOut(wWant, bmd)
			args := []any{C.DNNL_ARG_SRC, bd.memory(&src, false), C.DNNL_ARG_DIFF_DST, bd.memory(&dst, false), C.DNNL_ARG_DIFF_WEIGHTS, mw}
			if db != nil {
				args = append(args, C.DNNL_ARG_DIFF_BIAS, mb)
			}
			bd.step(pd, args...)
			bd.addGrads(wWant, &wUser, mw, bmd, mb)
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.runGradsOut(0, h{ptr(x), ptr(dy)}, ptr(dw), ptr(db))
	})
}
