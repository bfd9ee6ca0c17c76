package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"

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
	if err := validGeom(g); err != nil {
		return err
	}
	if err := checkLens("bf16 convolution", len(x), g.InLen(), len(w), g.WeightLen(), len(y), g.OutLen()); err != nil {
		return err
	}
	if b != nil && len(b) < g.F {
		return fmt.Errorf("dnnl: bf16 convolution: bias has %d values, needs %d", len(b), g.F)
	}
	key := convKey{inference, bf16, g, b != nil, act}
	return do(func() error {
		o, err := cached(key, func() (*op, error) {
			bd := newBuilder()
			pd := bd.convForwardPD(g, inference, bf16, b != nil, act)
			if bd.err != nil {
				return bd.finish(nil)
			}
			srcF, dst, wUser, _, _ := convDescs(g, f32)
			srcB, _ := mdOf(bf16, C.dnnl_nhwc, g.N, g.C, g.H, g.W)
			bm, _ := md(C.dnnl_a, g.F)
			wWant := bd.query(pd, C.dnnl_query_weights_md)
			mxf := bd.memory(&srcF, false)
			mxb := bd.memory(&srcB, true)
			mwu := bd.memory(&wUser, false)
			mw := bd.memory(wWant, true)
			bd.reorder(&srcF, &srcB, mxf, mxb)
			bd.reorder(&wUser, wWant, mwu, mw)
			args := []any{C.DNNL_ARG_SRC, mxb, C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DST, bd.memory(&dst, false)}
			if b != nil {
				args = append(args, C.DNNL_ARG_BIAS, bd.memory(&bm, false))
			}
			bd.step(pd, args...)
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		if err := o.run(0, h{ptr(x)}); err != nil {
			return err
		}
		if err := o.run(1, h{ptr(w)}); err != nil {
			return err
		}
		return o.run(2, h{nil, nil, ptr(y), ptr(b)})
	})
}
