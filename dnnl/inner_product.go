package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

type ipKey struct {
	prop       prop // inference, training (a hint for backward), backwardData or backwardWeights
	n, in, out int
	bias       bool
	act        Activation
}

func (b *builder) ipPD(k ipKey, hint C.dnnl_primitive_desc_t) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	src, _ := md(C.dnnl_nc, k.n, k.in)
	dst, _ := md(C.dnnl_nc, k.n, k.out)
	wAny, err := md(C.dnnl_format_tag_any, k.out, k.in)
	if err != nil {
		b.err = err
		return nil
	}
	bm, _ := md(C.dnnl_a, k.out)
	var bmd *C.dnnl_memory_desc_t
	if k.bias {
		bmd = &bm
	}
	var d C.dnnl_inner_product_desc_t
	var attr C.dnnl_primitive_attr_t
	switch k.prop {
	case inference, training:
		b.err = check(C.dnnl_inner_product_forward_desc_init(&d, k.prop.kind(), &src, &wAny, bmd, &dst), "inner product forward")
		attr = b.postOp(k.act)
		defer freeAttr(attr)
	case backwardData:
		b.err = check(C.dnnl_inner_product_backward_data_desc_init(&d, &src, &wAny, &dst), "inner product backward data")
	default:
		b.err = check(C.dnnl_inner_product_backward_weights_desc_init(&d, &src, &wAny, bmd, &dst), "inner product backward weights")
	}
	if b.err != nil {
		return nil
	}
	return b.pd(unsafe.Pointer(&d), attr, hint, fmt.Sprintf("inner product %+v", k))
}

func ipOp(k ipKey) (*op, error) {
	return cached(k, func() (*op, error) {
		bd := newBuilder()
		var hint C.dnnl_primitive_desc_t
		if k.prop != inference {
			hk := k
			hk.prop, hk.act = training, Linear
			hint = bd.ipPD(hk, nil)
		}
		pd := bd.ipPD(k, hint)
		if bd.err != nil {
			return bd.finish(nil)
		}
		src, _ := md(C.dnnl_nc, k.n, k.in)
		dst, _ := md(C.dnnl_nc, k.n, k.out)
		wUser, _ := md(C.dnnl_io, k.out, k.in)
		bm, _ := md(C.dnnl_a, k.out)
		if k.prop == backwardWeights {
			wWant := bd.query(pd, C.dnnl_query_diff_weights_md)
			var bmd *C.dnnl_memory_desc_t
			if k.bias {
				bmd = &bm
			}
			mw, mb := bd.gradsOut(wWant, bmd)
			args := []any{C.DNNL_ARG_SRC, bd.memory(&src, false), C.DNNL_ARG_DIFF_DST, bd.memory(&dst, false), C.DNNL_ARG_DIFF_WEIGHTS, mw}
			if k.bias {
				args = append(args, C.DNNL_ARG_DIFF_BIAS, mb)
			}
			bd.step(pd, args...)
			bd.addGrads(wWant, &wUser, mw, bmd, mb)
			return bd.finish(pd)
		}
		wWant, re := bd.adapt(pd, C.dnnl_query_weights_md, &wUser)
		mwu := bd.memory(&wUser, false)
		mw := mwu
		if re {
			mw = bd.memory(wWant, true)
			bd.reorder(&wUser, wWant, mwu, mw)
		}
		switch k.prop {
		case inference:
			args := []any{C.DNNL_ARG_SRC, bd.memory(&src, false), C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DST, bd.memory(&dst, false)}
			if k.bias {
				args = append(args, C.DNNL_ARG_BIAS, bd.memory(&bm, false))
			}
			bd.step(pd, args...)
		case backwardData:
			bd.step(pd, C.DNNL_ARG_DIFF_DST, bd.memory(&dst, false), C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DIFF_SRC, bd.memory(&src, false))
		}
		return bd.finish(pd)
	})
}

// DenseForward computes y = act(x w + b) for x [n, in], Keras kernel w
// [in, out] and bias b [out] (may be nil).
func DenseForward(n, in, out int, x, w, b, y []float32, act Activation) error {
	if err := checkLens("dense forward", len(x), n*in, len(w), in*out, len(y), n*out); err != nil {
		return err
	}
	if _, _, _, ok := act.eltwise(); act != Linear && !ok {
		return fmt.Errorf("dnnl: dense forward: unsupported activation %v", act)
	}
	if n < 1 || in < 1 || out < 1 || (b != nil && len(b) < out) {
		return fmt.Errorf("dnnl: dense forward: bad shape %dx%d -> %d or or bias", n, in, out)
	}
	k := ipKey{inference, n, in, out, b != nil, act}
	return do(func() error {
		o, err := ipOp(k)
		if err != nil {
			return err
		}
		return o.runWeightsIn(ptr(w), h{ptr(x), nil, ptr(y), ptr(b)}, 1)
	})
}

// DenseBackward computes dx (skipped when nil) and adds the weight and
// bias gradients to dw and db (skipped when nil), as ConvBackwardWeights
// does. db is ignored without dw.
func DenseBackward(n, in, out int, x, w, dy, dx, dw, db []float32) error {
	if err := checkLens("dense backward", len(x), n*in, len(w), in*out, len(dy), n*out); err != nil {
		return err
	}
	if (dx != nil && len(dx) < n*in) || (dw != nil && len(dw) < in*out) || (db != nil && len(db) < out) {
		return fmt.Errorf("dnnl: dense backward: short gradient buffer")
	}
	return do(func() error {
		if dx != nil {
			o, err := ipOp(ipKey{backwardData, n, in, out, false, Linear})
			if err != nil {
				return err
			}
			if err := o.runWeightsIn(ptr(w), h{ptr(dy), nil, ptr(dx)}, 1); err != nil {
				return err
			}
		}
		if dw == nil {
			return nil
		}
		o, err := ipOp(ipKey{backwardWeights, n, in, out, db != nil, Linear})
		if err != nil {
			return err
		}
		return o.runGradsOut(0, h{ptr(x), ptr(dy)}, ptr(dw), ptr(db))
	})
}
