package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

type eltKey struct {
	prop prop // training or backward
	act  Activation
	n    int
}

func (b *builder) eltPD(act Activation, n int, p prop, hint C.dnnl_primitive_desc_t) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	data, err := md(C.dnnl_a, n)
	if err != nil {
		b.err = err
		return nil
	}
	alg, alpha, beta, _ := act.eltwiseTraining()
	var d C.dnnl_eltwise_desc_t
	if p == backward {
		b.err = check(C.dnnl_eltwise_backward_desc_init(&d, alg, &data, &data, alpha, beta), "eltwise backward")
	} else {
		b.err = check(C.dnnl_eltwise_forward_desc_init(&d, p.kind(), alg, &data, alpha, beta), "eltwise forward")
	}
	return b.pd(unsafe.Pointer(&d), nil, hint, "eltwise")
}

func validActivation(act Activation) error {
	if _, _, _, ok := act.eltwiseTraining(); !ok {
		return fmt.Errorf("dnnl: unsupported activation %v", act)
	}
	return nil
}

// ActivationForward applies the activation to x into y (y may alias x).
func ActivationForward(act Activation, x, y []float32) error {
	if err := validActivation(act); err != nil {
		return err
	}
	if len(y) < len(x) {
		return fmt.Errorf("dnnl: activation: output has %d values, needs %d", len(y), len(x))
	}
	if len(x) == 0 {
		return nil
	}
	return do(func() error {
		o, err := cached(eltKey{training, act, len(x)}, func() (*op, error) {
			bd := newBuilder()
			pd := bd.eltPD(act, len(x), training, nil)
			data, _ := md(C.dnnl_a, len(x))
			bd.step(pd, C.DNNL_ARG_SRC, bd.memory(&data, false), C.DNNL_ARG_DST, bd.memory(&data, false))
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(x), ptr(y)})
	})
}

// ActivationBackward computes dx from dy and the forward output y; an
// activation whose derivative needs the input (Swish) is refused.
func ActivationBackward(act Activation, y, dy, dx []float32) error {
	if err := validActivation(act); err != nil {
		return err
	}
	if act.backwardFromInput() {
		return fmt.Errorf("dnnl: %v backward needs the forward input, not the output", act)
	}
	if err := checkLens("activation backward", len(y), len(dy), len(dx), len(dy)); err != nil {
		return err
	}
	if len(dy) == 0 {
		return nil
	}
	n := len(dy)
	return do(func() error {
		o, err := cached(eltKey{backward, act, n}, func() (*op, error) {
			bd := newBuilder()
			hint := bd.eltPD(act, n, training, nil)
			pd := bd.eltPD(act, n, backward, hint)
			data, _ := md(C.dnnl_a, n)
			bd.step(pd, C.DNNL_ARG_DST, bd.memory(&data, false), C.DNNL_ARG_DIFF_DST, bd.memory(&data, false), C.DNNL_ARG_DIFF_SRC, bd.memory(&data, false))
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(y), ptr(dy), ptr(dx)})
	})
}
