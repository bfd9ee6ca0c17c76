package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

type bnKey struct {
	prop         prop // inference, training or backward
	rows, c      int
	eps          float32
	scale, shift bool
}

func (k bnKey) flags() C.uint {
	var f C.uint
	if k.prop == inference {
		f |= C.dnnl_use_global_stats
	}
	if k.scale {
		f |= C.dnnl_use_scale
	}
	if k.shift {
		f |= C.dnnl_use_shift
	}
	return f
}

func (b *builder) bnPD(k bnKey, hint C.dnnl_primitive_desc_t) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	data, err := md(C.dnnl_nhwc, k.rows, k.c, 1, 1)
	if err != nil {
		b.err = err
		return nil
	}
	var d C.dnnl_batch_normalization_desc_t
	switch k.prop {
	case inference, training:
		b.err = check(C.dnnl_batch_normalization_forward_desc_init(&d, k.prop.kind(), &data, C.float(k.eps), k.flags()), "batch norm forward")
	default:
		pk := C.dnnl_prop_kind_t(C.dnnl_backward_data)
		if k.scale || k.shift {
			pk = C.dnnl_backward
		}
		b.err = check(C.dnnl_batch_normalization_backward_desc_init(&d, pk, &data, &data, C.float(k.eps), k.flags()), "batch norm backward")
	}
	return b.pd(unsafe.Pointer(&d), nil, hint, fmt.Sprintf("batch norm %+v", k))
}

func bnOp(k bnKey) (*op, error) {
	return cached(k, func() (*op, error) {
		bd := newBuilder()
		var hint C.dnnl_primitive_desc_t
		if k.prop == backward {
			fk := k
			fk.prop = training
			hint = bd.bnPD(fk, nil)
		}
		pd := bd.bnPD(k, hint)
		if bd.err != nil {
			return bd.finish(nil)
		}
		data, _ := md(C.dnnl_nhwc, k.rows, k.c, 1, 1)
		stat, _ := md(C.dnnl_a, k.c)
		dm := func() C.dnnl_memory_t { return bd.memory(&data, false) }
		sm := func() C.dnnl_memory_t { return bd.memory(&stat, false) }
		var args []any
		switch k.prop {
		case inference:
			args = []any{C.DNNL_ARG_SRC, dm(), C.DNNL_ARG_MEAN, sm(), C.DNNL_ARG_VARIANCE, sm(), C.DNNL_ARG_DST, dm()}
		case training:
			args = []any{C.DNNL_ARG_SRC, dm(), C.DNNL_ARG_DST, dm(), C.DNNL_ARG_MEAN, sm(), C.DNNL_ARG_VARIANCE, sm()}
		default:
			args = []any{C.DNNL_ARG_SRC, dm(), C.DNNL_ARG_MEAN, sm(), C.DNNL_ARG_VARIANCE, sm(), C.DNNL_ARG_DIFF_DST, dm(), C.DNNL_ARG_DIFF_SRC, dm()}
		}
		if k.scale {
			args = append(args, C.DNNL_ARG_SCALE, sm())
		}
		if k.shift && k.prop != backward {
			args = append(args, C.DNNL_ARG_SHIFT, sm())
		}
		if k.prop == backward {
			if k.scale {
				args = append(args, C.DNNL_ARG_DIFF_SCALE, sm())
			}
			if k.shift {
				args = append(args, C.DNNL_ARG_DIFF_SHIFT, sm())
				// oneDNN asks for the shift even though its gradient does not depend on it.
				args = append(args, C.DNNL_ARG_SHIFT, bd.memory(&stat, true))
			}
		}
		bd.step(pd, args...)
		return bd.finish(pd)
	})
}

func bnCheck(what string, rows, c int, data [][]float32, stats [][]float32) error {
	if rows < 1 || c < 1 {
		return fmt.Errorf("dnnl: %s: bad shape %d x %d", what, rows, c)
	}
	for i, d := range data {
		if len(d) < rows*c {
			return fmt.Errorf("dnnl: %s: data buffer %d has %d values, needs %d", what, i, len(d), rows*c)
		}
	}
	for i, s := range stats {
		if s != nil && len(s) < c {
			return fmt.Errorf("dnnl: %s: channel buffer %d has %d values, needs %d", what, i, len(s), c)
		}
	}
	return nil
}

// withScaleShift appends the present scale and shift handles after the
// four data and statistics handles, in the order bnOp binds them.
func withScaleShift(hs h, gamma, beta []float32) h {
	i := 4
	for _, p := range [][]float32{gamma, beta} {
		if p != nil {
			hs[i] = ptr(p)
			i++
		}
	}
	return hs
}

// BatchNormInference normalizes rows of c channels with given statistics.
// gamma or beta may be nil (Keras scale=False or center=False).
func BatchNormInference(rows, c int, x, gamma, beta, mean, variance []float32, eps float32, y []float32) error {
	if err := bnCheck("batch norm inference", rows, c, [][]float32{x, y}, [][]float32{gamma, beta, mean, variance}); err != nil {
		return err
	}
	if mean == nil || variance == nil {
		return fmt.Errorf("dnnl: batch norm inference needs mean and variance")
	}
	k := bnKey{inference, rows, c, eps, gamma != nil, beta != nil}
	return do(func() error {
		o, err := bnOp(k)
		if err != nil {
			return err
		}
		return o.run(0, withScaleShift(h{ptr(x), ptr(mean), ptr(variance), ptr(y)}, gamma, beta))
	})
}

// BatchNormTraining normalizes with the batch's own statistics, which it
// writes to mean and variance (biased variance).
func BatchNormTraining(rows, c int, x, gamma, beta []float32, eps float32, y, mean, variance []float32) error {
	if err := bnCheck("batch norm training", rows, c, [][]float32{x, y}, [][]float32{gamma, beta, mean, variance}); err != nil {
		return err
	}
	k := bnKey{training, rows, c, eps, gamma != nil, beta != nil}
	return do(func() error {
		o, err := bnOp(k)
		if err != nil {
			return err
		}
		return o.run(0, withScaleShift(h{ptr(x), ptr(y), ptr(mean), ptr(variance)}, gamma, beta))
	})
}

// BatchNormBackward computes dx, and dgamma and dbeta where the layer has
// them, for training-mode batch normalization with the given batch statistics.
// hasBeta says whether the layer has a shift (center=True).
func BatchNormBackward(rows, c int, x, dy, gamma, mean, variance []float32, eps float32, hasBeta bool, dx, dgamma, dbeta []float32) error {
	if err := bnCheck("batch norm backward", rows, c, [][]float32{x, dy, dx}, [][]float32{gamma, mean, variance, dgamma, dbeta}); err != nil {
		return err
	}
	if gamma != nil && dgamma == nil || hasBeta && dbeta == nil {
		return fmt.Errorf("dnnl: batch norm backward: missing parameter gradient buffer")
	}
	k := bnKey{backward, rows, c, eps, gamma != nil, hasBeta}
	return do(func() error {
		o, err := bnOp(k)
		if err != nil {
			return err
		}
		hs := h{ptr(x), ptr(mean), ptr(variance), ptr(dy), ptr(dx)}
		i := 5
		if gamma != nil {
			hs[i] = ptr(gamma)
			i++
			hs[i] = ptr(dgamma)
			i++
		}
		if hasBeta {
			hs[i] = ptr(dbeta)
		}
		return o.run(0, hs)
	})
}
