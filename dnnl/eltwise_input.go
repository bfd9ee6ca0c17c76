package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// eltInputKey caches the backward pass of an activation from its input.
type eltInputKey struct {
	act Activation
	n   int
}

// ActivationBackwardFromInput computes dx from dy and the forward input x,
// for activations whose derivative the output does not determine (Swish).
func ActivationBackwardFromInput(act Activation, x, dy, dx []float32) error {
	if !act.backwardFromInput() {
		return fmt.Errorf("dnnl: %v backward takes the forward output: use ActivationBackward", act)
	}
	if err := checkLens("activation backward", len(x), len(dy), len(dx), len(dy)); err != nil {
		return err
	}
	if len(dy) == 0 {
		return nil
	}
	n := len(dy)
	return do(func() error {
		o, err := cached(eltInputKey{act, n}, func() (*op, error) {
			bd := newBuilder()
			data, err := md(C.dnnl_a, n)
			if err != nil {
				bd.err = err
				return bd.finish(nil)
			}
			alg, alpha, beta, _ := act.eltwiseTraining()
			var fd, d C.dnnl_eltwise_desc_t
			bd.err = check(C.dnnl_eltwise_forward_desc_init(&fd, training.kind(), alg, &data, alpha, beta), "eltwise forward")
			hint := bd.pd(unsafe.Pointer(&fd), nil, nil, "eltwise")
			if bd.err == nil {
				bd.err = check(C.dnnl_eltwise_backward_desc_init(&d, alg, &data, &data, alpha, beta), "eltwise backward")
			}
			pd := bd.pd(unsafe.Pointer(&d), nil, hint, "eltwise backward")
			bd.step(pd, C.DNNL_ARG_SRC, bd.memory(&data, false), C.DNNL_ARG_DIFF_DST, bd.memory(&data, false), C.DNNL_ARG_DIFF_SRC, bd.memory(&data, false))
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(x), ptr(dy), ptr(dx)})
	})
}
