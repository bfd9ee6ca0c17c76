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

type poolKey struct {
	prop int // 0 inference, 1 training forward, 2 backward
	kind int
	g    tensor.ConvGeom
}

func (b *builder) poolPD(kind int, g tensor.ConvGeom, prop C.dnnl_prop_kind_t, hint C.dnnl_primitive_desc_t, backward bool) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	src, err := md(C.dnnl_nhwc, g.N, g.C, g.H, g.W)
	if err != nil {
		b.err = err
		return nil
	}
	dst, err := md(C.dnnl_nhwc, g.N, g.C, g.OH, g.OW)
	if err != nil {
		b.err = err
		return nil
	}
	alg := C.dnnl_alg_kind_t(C.dnnl_pooling_max)
	if kind == tensor.AvgPool {
		alg = C.dnnl_pooling_avg_exclude_padding
	}
	strides, padL, padR := convGeomArrays(g)
	var kernel C.dnnl_dims_t
	C.ts_dims2(&kernel[0], C.int64_t(g.KH), C.int64_t(g.KW))
	var d C.dnnl_pooling_desc_t
	if backward {
		b.err = check(C.dnnl_pooling_backward_desc_init(&d, alg, &src, &dst, &strides[0], &kernel[0], &padL[0], &padR[0]), "pooling backward")
	} else {
		b.err = check(C.dnnl_pooling_forward_desc_init(&d, prop, alg, &src, &dst, &strides[0], &kernel[0], &padL[0], &padR[0]), "pooling forward")
	}
	return b.pd(unsafe.Pointer(&d), nil, hint, fmt.Sprintf("pooling %+v", g))
}

func validPool(g tensor.ConvGeom) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if g.F != g.C {
		return fmt.Errorf("dnnl: pooling needs F == C, got %d and %d", g.F, g.C)
	}
	return nil
}

// PoolWorkspaceLen is the number of bytes of workspace that training-mode max
// pooling needs to remember its argmax positions (0 for average pooling).
func PoolWorkspaceLen(kind int, g tensor.ConvGeom) (int, error) {
	if err := validPool(g); err != nil {
		return 0, err
	}
	var n int
	err := do(func() error {
		o, err := poolForwardOp(kind, g, true)
		if err != nil {
			return err
		}
		n = o.ws
		return nil
	})
	return n, err
}

func poolForwardOp(kind int, g tensor.ConvGeom, training bool) (*op, error) {
	prop := 0
	if training {
		prop = 1
	}
	return cached(poolKey{prop, kind, g}, func() (*op, error) {
		bd := newBuilder()
		pk := C.dnnl_prop_kind_t(C.dnnl_forward_inference)
		if training {
			pk = C.dnnl_forward_training
		}
		pd := bd.poolPD(kind, g, pk, nil, false)
		if bd.err != nil {
			return bd.finish(nil)
		}
		args := []any{C.DNNL_ARG_SRC, bd.memory(bd.query(pd, C.dnnl_query_src_md), false), C.DNNL_ARG_DST, bd.memory(bd.query(pd, C.dnnl_query_dst_md), false)}
		if training {
			if ws := bd.query(pd, C.dnnl_query_workspace_md); ws != nil && C.dnnl_memory_desc_get_size(ws) > 0 {
				bd.o.ws = int(C.dnnl_memory_desc_get_size(ws))
				args = append(args, C.DNNL_ARG_WORKSPACE, bd.memory(ws, false))
			}
		}
		bd.step(pd, args...)
		return bd.finish(pd)
	})
}

// PoolForward computes max or average pooling (average excludes padding, as
// TensorFlow's SAME pooling does). For training-mode max pooling pass a
// workspace of PoolWorkspaceLen bytes for PoolBackward; otherwise ws is nil.
func PoolForward(kind int, g tensor.ConvGeom, x, y []float32, ws []byte) error {
	if err := validPool(g); err != nil {
		return err
	}
	if err := checkLens("pooling forward", len(x), g.InLen(), len(y), g.OutLen()); err != nil {
		return err
	}
	return do(func() error {
		o, err := poolForwardOp(kind, g, ws != nil)
		if err != nil {
			return err
		}
		if ws != nil && len(ws) < o.ws {
			return fmt.Errorf("dnnl: pooling workspace has %d bytes, needs %d", len(ws), o.ws)
		}
		return o.run(0, h{ptr(x), ptr(y), ptr(ws)})
	})
}

// PoolBackward computes dx from dy; max pooling needs the workspace that
// its training-mode forward filled.
func PoolBackward(kind int, g tensor.ConvGeom, dy, dx []float32, ws []byte) error {
	if err := validPool(g); err != nil {
		return err
	}
	if err := checkLens("pooling backward", len(dy), g.OutLen(), len(dx), g.InLen()); err != nil {
		return err
	}
	return do(func() error {
		fwd, err := poolForwardOp(kind, g, true)
		if err != nil {
			return err
		}
		if len(ws) < fwd.ws {
			return fmt.Errorf("dnnl: pooling backward: workspace has %d bytes, needs %d", len(ws), fwd.ws)
		}
		o, err := cached(poolKey{2, kind, g}, func() (*op, error) {
			bd := newBuilder()
			hint := bd.poolPD(kind, g, C.dnnl_forward_training, nil, false)
			pd := bd.poolPD(kind, g, 0, hint, true)
			if bd.err != nil {
				return bd.finish(nil)
			}
			args := []any{C.DNNL_ARG_DIFF_DST, bd.memory(bd.query(pd, C.dnnl_query_diff_dst_md), false), C.DNNL_ARG_DIFF_SRC, bd.memory(bd.query(pd, C.dnnl_query_diff_src_md), false)}
			if ws := bd.query(pd, C.dnnl_query_workspace_md); ws != nil && C.dnnl_memory_desc_get_size(ws) > 0 {
				args = append(args, C.DNNL_ARG_WORKSPACE, bd.memory(ws, false))
			}
			bd.step(pd, args...)
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(dy), ptr(dx), ptr(ws)})
	})
}

type eltKey struct {
	backward bool
	kind     int
	n        int
}

func (b *builder) eltPD(kind, n int, backward bool, hint C.dnnl_primitive_desc_t) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	data, err := md(C.dnnl_a, n)
	if err != nil {
		b.err = err
		return nil
	}
	alg, alpha, beta := C.dnnl_alg_kind_t(C.dnnl_eltwise_relu_use_dst_for_bwd), C.float(0), C.float(0)
	if kind == tensor.ReLU6 {
		alg, beta = C.dnnl_eltwise_clip_v2_use_dst_for_bwd, 6
	}
	var d C.dnnl_eltwise_desc_t
	if backward {
		b.err = check(C.dnnl_eltwise_backward_desc_init(&d, alg, &data, &data, alpha, beta), "eltwise backward")
	} else {
		b.err = check(C.dnnl_eltwise_forward_desc_init(&d, C.dnnl_forward_training, alg, &data, alpha, beta), "eltwise forward")
	}
	return b.pd(unsafe.Pointer(&d), nil, hint, "eltwise")
}

// ActivationForward applies ReLU or ReLU6 to x into y (y may alias x).
func ActivationForward(kind int, x, y []float32) error {
	if kind != tensor.ReLU && kind != tensor.ReLU6 {
		return fmt.Errorf("dnnl: unsupported activation %d", kind)
	}
	if len(y) < len(x) {
		return fmt.Errorf("dnnl: activation: output has %d values, needs %d", len(y), len(x))
	}
	if len(x) == 0 {
		return nil
	}
	return do(func() error {
		o, err := cached(eltKey{false, kind, len(x)}, func() (*op, error) {
			bd := newBuilder()
			pd := bd.eltPD(kind, len(x), false, nil)
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

// ActivationBackward computes dx from dy and the forward output y.
func ActivationBackward(kind int, y, dy, dx []float32) error {
	if kind != tensor.ReLU && kind != tensor.ReLU6 {
		return fmt.Errorf("dnnl: unsupported activation %d", kind)
	}
	if err := checkLens("activation backward", len(y), len(dy), len(dx), len(dy)); err != nil {
		return err
	}
	if len(dy) == 0 {
		return nil
	}
	n := len(dy)
	return do(func() error {
		o, err := cached(eltKey{true, kind, n}, func() (*op, error) {
			bd := newBuilder()
			hint := bd.eltPD(kind, n, false, nil)
			pd := bd.eltPD(kind, n, true, hint)
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
