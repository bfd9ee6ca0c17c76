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
	prop         int // 0 inference, 1 training forward, 2 backward
	rows, c      int
	eps          float32
	scale, shift bool
}

func (k bnKey) flags() C.uint {
	var f C.uint
	if k.prop == 0 {
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
	case 0:
		b.err = check(C.dnnl_batch_normalization_forward_desc_init(&d, C.dnnl_forward_inference, &data, C.float(k.eps), k.flags()), "batch norm forward")
	case 1:
		b.err = check(C.dnnl_batch_normalization_forward_desc_init(&d, C.dnnl_forward_training, &data, C.float(k.eps), k.flags()), "batch norm forward")
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
		if k.prop == 2 {
			fk := k
			fk.prop = 1
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
		case 0:
			args = []any{C.DNNL_ARG_SRC, dm(), C.DNNL_ARG_MEAN, sm(), C.DNNL_ARG_VARIANCE, sm(), C.DNNL_ARG_DST, dm()}
		case 1:
			args = []any{C.DNNL_ARG_SRC, dm(), C.DNNL_ARG_DST, dm(), C.DNNL_ARG_MEAN, sm(), C.DNNL_ARG_VARIANCE, sm()}
		default:
			args = []any{C.DNNL_ARG_SRC, dm(), C.DNNL_ARG_MEAN, sm(), C.DNNL_ARG_VARIANCE, sm(), C.DNNL_ARG_DIFF_DST, dm(), C.DNNL_ARG_DIFF_SRC, dm()}
		}
		if k.scale {
			args = append(args, C.DNNL_ARG_SCALE, sm())
		}
		if k.shift && k.prop != 2 {
			args = append(args, C.DNNL_ARG_SHIFT, sm())
		}
		if k.prop == 2 {
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
	k := bnKey{0, rows, c, eps, gamma != nil, beta != nil}
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
	k := bnKey{1, rows, c, eps, gamma != nil, beta != nil}
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
	k := bnKey{2, rows, c, eps, gamma != nil, hasBeta}
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

type ipKey struct {
	prop       int // 0 forward, 1 backward data, 2 backward weights
	n, in, out int
	bias       bool
	act        int
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
	case 0, 3:
		pk := C.dnnl_prop_kind_t(C.dnnl_forward_inference)
		if k.prop == 3 {
			pk = C.dnnl_forward_training
		}
		b.err = check(C.dnnl_inner_product_forward_desc_init(&d, pk, &src, &wAny, bmd, &dst), "inner product forward")
		if b.err == nil && k.act != 0 {
			if b.err = check(C.dnnl_primitive_attr_create(&attr), "attr"); b.err != nil {
				return nil
			}
			defer C.dnnl_primitive_attr_destroy(attr)
			b.err = check(C.ts_post_eltwise(attr, C.dnnl_eltwise_relu, 0, 0), "post-op")
		}
	case 1:
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
		if k.prop != 0 {
			hk := k
			hk.prop, hk.act = 3, 0
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
		q := C.dnnl_query_t(C.dnnl_query_weights_md)
		if k.prop == 2 {
			q = C.dnnl_query_diff_weights_md
		}
		wWant, re := bd.adapt(pd, q, &wUser)
		mwu := bd.memory(&wUser, false)
		mw := mwu
		if re {
			mw = bd.memory(wWant, true)
			if k.prop != 2 {
				bd.reorder(&wUser, wWant, mwu, mw)
			}
		}
		switch k.prop {
		case 0:
			args := []any{C.DNNL_ARG_SRC, bd.memory(&src, false), C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DST, bd.memory(&dst, false)}
			if k.bias {
				args = append(args, C.DNNL_ARG_BIAS, bd.memory(&bm, false))
			}
			bd.step(pd, args...)
		case 1:
			bd.step(pd, C.DNNL_ARG_DIFF_DST, bd.memory(&dst, false), C.DNNL_ARG_WEIGHTS, mw, C.DNNL_ARG_DIFF_SRC, bd.memory(&src, false))
		default:
			args := []any{C.DNNL_ARG_SRC, bd.memory(&src, false), C.DNNL_ARG_DIFF_DST, bd.memory(&dst, false), C.DNNL_ARG_DIFF_WEIGHTS, mw}
			if k.bias {
				args = append(args, C.DNNL_ARG_DIFF_BIAS, bd.memory(&bm, false))
			}
			bd.step(pd, args...)
			if re {
				bd.reorder(wWant, &wUser, mw, mwu)
			}
		}
		return bd.finish(pd)
	})
}

// DenseForward computes y = act(x w + b) for x [n, in], Keras kernel w
// [in, out] and bias b [out] (may be nil); act is tensor.Linear or tensor.ReLU.
func DenseForward(n, in, out int, x, w, b, y []float32, act int) error {
	if err := checkLens("dense forward", len(x), n*in, len(w), in*out, len(y), n*out); err != nil {
		return err
	}
	if n < 1 || in < 1 || out < 1 || (b != nil && len(b) < out) || act > 1 {
		return fmt.Errorf("dnnl: dense forward: bad shape %dx%d -> %d or bias or activation", n, in, out)
	}
	k := ipKey{0, n, in, out, b != nil, act}
	return do(func() error {
		o, err := ipOp(k)
		if err != nil {
			return err
		}
		return o.runWeightsIn(ptr(w), h{ptr(x), nil, ptr(y), ptr(b)}, 1)
	})
}

// DenseBackward computes dx (skipped when nil), dw and db (skipped when nil).
func DenseBackward(n, in, out int, x, w, dy, dx, dw, db []float32) error {
	if err := checkLens("dense backward", len(x), n*in, len(w), in*out, len(dy), n*out, len(dw), in*out); err != nil {
		return err
	}
	if (dx != nil && len(dx) < n*in) || (db != nil && len(db) < out) {
		return fmt.Errorf("dnnl: dense backward: short gradient buffer")
	}
	return do(func() error {
		if dx != nil {
			o, err := ipOp(ipKey{1, n, in, out, false, 0})
			if err != nil {
				return err
			}
			if err := o.runWeightsIn(ptr(w), h{ptr(dy), nil, ptr(dx)}, 1); err != nil {
				return err
			}
		}
		o, err := ipOp(ipKey{2, n, in, out, db != nil, 0})
		if err != nil {
			return err
		}
		return o.runWeightsOut(ptr(dw), h{ptr(x), ptr(dy), nil, ptr(db)}, 2)
	})
}

const maxConcat = 7

type concatKey struct {
	rows   int
	n      int
	widths [maxConcat]int
}

// Concat joins up to 7 parts along the channel axis: part k has rows of
// widths[k] values; y has rows of their sum.
func Concat(rows int, widths []int, parts [][]float32, y []float32) error {
	if len(widths) < 1 || len(widths) > maxConcat || len(parts) != len(widths) {
		return fmt.Errorf("dnnl: concat of %d parts (1 to %d supported)", len(parts), maxConcat)
	}
	k := concatKey{rows: rows, n: len(widths)}
	total := 0
	for i, w := range widths {
		if w < 1 || len(parts[i]) < rows*w {
			return fmt.Errorf("dnnl: concat: part %d has %d values, needs %d x %d", i, len(parts[i]), rows, w)
		}
		k.widths[i] = w
		total += w
	}
	if len(y) < rows*total {
		return fmt.Errorf("dnnl: concat: output has %d values, needs %d", len(y), rows*total)
	}
	return do(func() error {
		o, err := cached(k, func() (*op, error) {
			bd := newBuilder()
			srcs := make([]C.dnnl_memory_desc_t, k.n)
			for i := range srcs {
				srcs[i], bd.err = md(C.dnnl_nhwc, rows, widths[i], 1, 1)
			}
			dst, _ := md(C.dnnl_nhwc, rows, total, 1, 1)
			var pd C.dnnl_primitive_desc_t
			if bd.err == nil {
				bd.err = check(C.dnnl_concat_primitive_desc_create(&pd, &dst, C.int(k.n), 1, &srcs[0], nil, engine), "concat")
			}
			if bd.err != nil {
				return bd.finish(nil)
			}
			bd.pds = append(bd.pds, pd)
			var args []any
			for i := range srcs {
				args = append(args, int(C.DNNL_ARG_MULTIPLE_SRC)+i, bd.memory(&srcs[i], false))
			}
			args = append(args, C.DNNL_ARG_DST, bd.memory(&dst, false))
			bd.step(pd, args...)
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		var hs h
		for i := range parts {
			hs[i] = ptr(parts[i])
		}
		hs[len(parts)] = ptr(y)
		return o.run(0, hs)
	})
}
