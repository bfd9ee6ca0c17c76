package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"trashsort/tensor"
)

// HasBF16 reports whether the CPU runs bfloat16 convolutions natively
// (AVX512_BF16 or AMX).
func HasBF16() bool {
	isa := ISA()
	return isa == "avx512_core_bf16" || isa == "avx512_core_amx"
}

// ConvForwardBF16 is ConvForward computed in bfloat16: the input and the
// weights are rounded to bfloat16 (8 significant bits), products accumulate
// in float32, and y is float32. It is for frozen layers in inference, where
// it is about twice as fast on CPUs with AVX512_BF16; results differ from
// float32 by about 1e-2 relative.
func ConvForwardBF16(g tensor.ConvGeom, x, w, b, y []float32, act Activation) error {
	if err := checkConvForward("bf16 convolution", g, x, w, b, y); err != nil {
		return err
	}
	return do(func() error {
		o, err := convForwardOp(g, BF16, b != nil, act)
		if err != nil {
			return err
		}
		return o.runConv(ptr(x), ptr(w), nil, ptr(b), ptr(y))
	})
}

// anyMD is a descriptor of data type dt in the layout the primitive picks.
func anyMD(dt DataType, dims ...int) (C.dnnl_memory_desc_t, error) {
	return mdOf(dt, C.dnnl_format_tag_any, dims...)
}

// ConvBackwardDataBF16 is ConvBackwardData computed in bfloat16 (for
// training with bfloat16 kernels and float32 master weights): dy and the
// weights are rounded to bfloat16, products accumulate in float32, and dx
// is float32.
func ConvBackwardDataBF16(g tensor.ConvGeom, dy, w, dx []float32) error {
	if err := checkConvBackwardData("bf16 convolution backward data", g, dy, w, dx); err != nil {
		return err
	}
	key := convKey{backwardData, BF16, g, false, Linear}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			hint := bd.convForwardPD(g, training, BF16, false, Linear)
			srcF, dstF, wUser, wAny, err := convDescs(g, BF16)
			if err != nil {
				bd.err = err
			}
			// Blocked layouts chosen by the primitive: with NHWC float32
			// gradients oneDNN 2.6 has only its reference kernel.
			dyAny, err1 := anyMD(BF16, g.N, g.F, g.OH, g.OW)
			dxAny, err2 := anyMD(F32, g.N, g.C, g.H, g.W)
			if bd.err == nil {
				bd.err = errors.Join(err1, err2)
			}
			strides, padL, padR := convGeomArrays(g)
			var cd C.dnnl_convolution_desc_t
			if bd.err == nil {
				bd.err = check(C.dnnl_convolution_backward_data_desc_init(&cd, C.dnnl_convolution_direct, &dxAny, &wAny, &dyAny, &strides[0], &padL[0], &padR[0]), "bf16 convolution backward data")
			}
			pd := bd.pd(unsafe.Pointer(&cd), nil, hint, fmt.Sprintf("bf16 convolution backward data %+v", g))
			if bd.err != nil {
				return bd.finish(nil)
			}
			dyWant := bd.query(pd, C.dnnl_query_diff_dst_md)
			wWant := bd.query(pd, C.dnnl_query_weights_md)
			dxWant := bd.query(pd, C.dnnl_query_diff_src_md)
			mdy, mdyB := bd.memory(&dstF, false), bd.temp(dyWant, 0)
			mw, mwB := bd.memory(&wUser, false), bd.memory(wWant, true)
			bd.reorder(&dstF, dyWant, mdy, mdyB) // step 0: dy to bfloat16
			bd.reorder(&wUser, wWant, mw, mwB)   // step 1: weights to bfloat16
			mdx := bd.memory(&srcF, false)
			if C.dnnl_memory_desc_equal(dxWant, &srcF) != 0 {
				bd.step(pd, C.DNNL_ARG_DIFF_DST, mdyB, C.DNNL_ARG_WEIGHTS, mwB, C.DNNL_ARG_DIFF_SRC, mdx) // step 2
			} else {
				mdxB := bd.temp(dxWant, 1)
				bd.step(pd, C.DNNL_ARG_DIFF_DST, mdyB, C.DNNL_ARG_WEIGHTS, mwB, C.DNNL_ARG_DIFF_SRC, mdxB)
				bd.reorder(dxWant, &srcF, mdxB, mdx) // step 3: dx to the user's layout
			}
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		if err := o.run(0, h{ptr(dy)}); err != nil {
			return err
		}
		if err := o.run(1, h{ptr(w)}); err != nil {
			return err
		}
		if len(o.steps) == 3 {
			return o.run(2, h{nil, nil, ptr(dx)})
		}
		if err := o.run(2, h{}); err != nil {
			return err
		}
		return o.run(3, h{nil, ptr(dx)})
	})
}

// ConvBackwardWeightsBF16 is ConvBackwardWeights computed in bfloat16: x
// and dy are rounded to bfloat16, products accumulate in float32, and dw
// and db are float32, added to as by ConvBackwardWeights.
func ConvBackwardWeightsBF16(g tensor.ConvGeom, x, dy, dw, db []float32) error {
	if err := checkConvBackwardWeights("bf16 convolution backward weights", g, x, dy, dw, db); err != nil {
		return err
	}
	key := convKey{backwardWeights, BF16, g, db != nil, Linear}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			hint := bd.convForwardPD(g, training, BF16, db != nil, Linear)
			srcF, dstF, wUser, wAny, err := convDescs(g, F32)
			if err != nil {
				bd.err = err
			}
			xAny, err1 := anyMD(BF16, g.N, g.C, g.H, g.W)
			dyAny, err2 := anyMD(BF16, g.N, g.F, g.OH, g.OW)
			if bd.err == nil {
				bd.err = errors.Join(err1, err2)
			}
			strides, padL, padR := convGeomArrays(g)
			bm, _ := md(C.dnnl_a, g.F)
			var bmd *C.dnnl_memory_desc_t
			if db != nil {
				bmd = &bm
			}
			var cd C.dnnl_convolution_desc_t
			if bd.err == nil {
				bd.err = check(C.dnnl_convolution_backward_weights_desc_init(&cd, C.dnnl_convolution_direct, &xAny, &wAny, bmd, &dyAny, &strides[0], &padL[0], &padR[0]), "bf16 convolution backward weights")
			}
			pd := bd.pd(unsafe.Pointer(&cd), nil, hint, fmt.Sprintf("bf16 convolution backward weights %+v", g))
			if bd.err != nil {
				return bd.finish(nil)
			}
			xWant := bd.query(pd, C.dnnl_query_src_md)
			dyWant := bd.query(pd, C.dnnl_query_diff_dst_md)
			wWant := bd.query(pd, C.dnnl_query_diff_weights_md)
			mx, mxB := bd.memory(&srcF, false), bd.temp(xWant, 0)
			mdy, mdyB := bd.memory(&dstF, false), bd.temp(dyWant, 1)
			bd.reorder(&srcF, xWant, mx, mxB)    // step 0: x to bfloat16
			bd.reorder(&dstF, dyWant, mdy, mdyB) // step 1: dy to bfloat16
			mw, mb := bd.gradsOut(wWant, bmd)
			args := []any{C.DNNL_ARG_SRC, mxB, C.DNNL_ARG_DIFF_DST, mdyB, C.DNNL_ARG_DIFF_WEIGHTS, mw}
			if db != nil {
				args = append(args, C.DNNL_ARG_DIFF_BIAS, mb)
			}
			bd.step(pd, args...)                    // step 2
			bd.addGrads(wWant, &wUser, mw, bmd, mb) // steps 3 and 4: add to dw and db
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		if err := o.run(0, h{ptr(x)}); err != nil {
			return err
		}
		if err := o.run(1, h{ptr(dy)}); err != nil {
			return err
		}
		return o.runGradsOut(2, h{}, ptr(dw), ptr(db))
	})
}
