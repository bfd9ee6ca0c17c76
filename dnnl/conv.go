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
	prop int // 0 forward, 1 backward data, 2 backward weights
	g    tensor.ConvGeom
	bias bool
	act  int
}

func convDescs(g tensor.ConvGeom) (src, dst, wUser, wAny C.dnnl_memory_desc_t, err error) {
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
		wAny, err = md(C.dnnl_format_tag_any, g.F, g.C, g.KH, g.KW)
		return
	}
	gr := g.Groups
	if wUser, err = md(C.dnnl_hwigo, gr, g.F/gr, g.C/gr, g.KH, g.KW); err != nil {
		return
	}
	wAny, err = md(C.dnnl_format_tag_any, gr, g.F/gr, g.C/gr, g.KH, g.KW)
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

// convForwardPD creates a forward convolution primitive descriptor.
func (b *builder) convForwardPD(g tensor.ConvGeom, prop C.dnnl_prop_kind_t, bias bool, act int) C.dnnl_primitive_desc_t {
	src, dst, _, wAny, err := convDescs(g)
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
	if b.err = check(C.dnnl_convolution_forward_desc_init(&cd, prop, C.dnnl_convolution_direct, &src, &wAny, bmd, &dst, &strides[0], &padL[0], &padR[0]), "convolution forward"); b.err != nil {
		return nil
	}
	var attr C.dnnl_primitive_attr_t
	if act != tensor.Linear {
		if b.err = check(C.dnnl_primitive_attr_create(&attr), "attr"); b.err != nil {
			return nil
		}
		defer C.dnnl_primitive_attr_destroy(attr)
		alg, beta := C.int(C.dnnl_eltwise_relu), C.float(0)
		if act == tensor.ReLU6 {
			alg, beta = C.int(C.dnnl_eltwise_clip), 6
		}
		if b.err = check(C.ts_post_eltwise(attr, alg, 0, beta), "post-op"); b.err != nil {
			return nil
		}
	}
	return b.pd(unsafe.Pointer(&cd), attr, nil, fmt.Sprintf("convolution forward %+v", g))
}

// ConvForward computes y = act(conv(x, w) + b) for NHWC x and y and Keras
// layout weights ([KH, KW, C, F], or [KH, KW, C, F/C] when Groups == C).
// b may be nil. act is tensor.Linear, tensor.ReLU or tensor.ReLU6.
func ConvForward(g tensor.ConvGeom, x, w, b, y []float32, act int) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if err := checkLens("convolution forward", len(x), g.InLen(), len(w), g.WeightLen(), len(y), g.OutLen()); err != nil {
		return err
	}
	if b != nil && len(b) < g.F {
		return fmt.Errorf("dnnl: convolution forward: bias has %d values, needs %d", len(b), g.F)
	}
	key := convKey{0, g, b != nil, act}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			pd := bd.convForwardPD(g, C.dnnl_forward_inference, b != nil, act)
			if bd.err != nil {
				return bd.finish(nil)
			}
			src, dst, wUser, _, _ := convDescs(g)
			wWant, re := bd.adapt(pd, C.dnnl_query_weights_md, &wUser)
			mx, my := bd.memory(&src, false), bd.memory(&dst, false)
			mwu := bd.memory(&wUser, false)
			mw := mwu
			if re {
				mw = bd.memory(wWant, true)
				bd.reorder(&wUser, wWant, mwu, mw)
			}
			args := []any{C.DNNL_ARG_SRC, mx, C.DNNL_ARG_WEIGHTS, mw}
			if b != nil {
				bm, _ := md(C.dnnl_a, g.F)
				args = append(args, C.DNNL_ARG_BIAS, bd.memory(&bm, false))
			}
			args = append(args, C.DNNL_ARG_DST, my)
			bd.step(pd, args...)
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		if b != nil {
			return o.runWeightsIn(ptr(w), h{ptr(x), nil, ptr(b), ptr(y)}, 1)
		}
		return o.runWeightsIn(ptr(w), h{ptr(x), nil, ptr(y)}, 1)
	})
}

// ConvBackwardData computes dx from dy and the weights.
func ConvBackwardData(g tensor.ConvGeom, dy, w, dx []float32) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if err := checkLens("convolution backward data", len(dy), g.OutLen(), len(w), g.WeightLen(), len(dx), g.InLen()); err != nil {
		return err
	}
	key := convKey{1, g, false, 0}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			hint := bd.convForwardPD(g, C.dnnl_forward_training, false, tensor.Linear)
			src, dst, wUser, wAny, err := convDescs(g)
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

// ConvBackwardWeights computes dw (Keras layout) and, when db is not nil, db
// from the forward input x and dy. Both are overwritten.
func ConvBackwardWeights(g tensor.ConvGeom, x, dy, dw, db []float32) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if err := checkLens("convolution backward weights", len(x), g.InLen(), len(dy), g.OutLen(), len(dw), g.WeightLen()); err != nil {
		return err
	}
	if db != nil && len(db) < g.F {
		return fmt.Errorf("dnnl: convolution backward weights: bias gradient has %d values, needs %d", len(db), g.F)
	}
	key := convKey{2, g, db != nil, 0}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			hint := bd.convForwardPD(g, C.dnnl_forward_training, db != nil, tensor.Linear)
			src, dst, wUser, wAny, err := convDescs(g)
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
			wWant, re := bd.adapt(pd, C.dnnl_query_diff_weights_md, &wUser)
			mx, mdy := bd.memory(&src, false), bd.memory(&dst, false)
			mwu := bd.memory(&wUser, false)
			mw := mwu
			if re {
				mw = bd.memory(wWant, true)
			}
			args := []any{C.DNNL_ARG_SRC, mx, C.DNNL_ARG_DIFF_DST, mdy, C.DNNL_ARG_DIFF_WEIGHTS, mw}
			if db != nil {
				args = append(args, C.DNNL_ARG_DIFF_BIAS, bd.memory(&bm, false))
			}
			bd.step(pd, args...)
			if re {
				bd.reorder(wWant, &wUser, mw, mwu)
			}
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.runWeightsOut(ptr(dw), h{ptr(x), ptr(dy), nil, ptr(db)}, 2)
	})
}
