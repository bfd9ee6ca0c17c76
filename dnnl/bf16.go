package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
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
