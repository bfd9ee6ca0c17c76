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
	prop prop // inference, training or backward
	alg  PoolAlg
	g    tensor.ConvGeom
	dt   DataType // of source and destination
}

func (b *builder) poolPD(alg PoolAlg, g tensor.ConvGeom, p prop, hint C.dnnl_primitive_desc_t) C.dnnl_primitive_desc_t {
	return b.poolPDOf(alg, g, p, F32, hint)
}

// poolPDOf is poolPD with source and destination of data type dt.
func (b *builder) poolPDOf(alg PoolAlg, g tensor.ConvGeom, p prop, dt DataType, hint C.dnnl_primitive_desc_t) C.dnnl_primitive_desc_t {
	if b.err != nil {
		return nil
	}
	src, err := mdOf(dt, C.dnnl_nhwc, g.N, g.C, g.H, g.W)
	if err != nil {
		b.err = err
		return nil
	}
	dst, err := mdOf(dt, C.dnnl_nhwc, g.N, g.C, g.OH, g.OW)
	if err != nil {
		b.err = err
		return nil
	}
	strides, padL, padR := convGeomArrays(g)
	var kernel C.dnnl_dims_t
	C.ts_dims2(&kernel[0], C.int64_t(g.KH), C.int64_t(g.KW))
	var d C.dnnl_pooling_desc_t
	if p == backward {
		b.err = check(C.dnnl_pooling_backward_desc_init(&d, alg.alg(), &src, &dst, &strides[0], &kernel[0], &padL[0], &padR[0]), "pooling backward")
	} else {
		b.err = check(C.dnnl_pooling_forward_desc_init(&d, p.kind(), alg.alg(), &src, &dst, &strides[0], &kernel[0], &padL[0], &padR[0]), "pooling forward")
	}
	return b.pd(unsafe.Pointer(&d), nil, hint, fmt.Sprintf("pooling %+v", g))
}

func validPool(alg PoolAlg, g tensor.ConvGeom) error {
	if !alg.valid() {
		return fmt.Errorf("dnnl: unknown pooling algorithm %d", int(alg))
	}
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
func PoolWorkspaceLen(alg PoolAlg, g tensor.ConvGeom) (int, error) {
	if err := validPool(alg, g); err != nil {
		return 0, err
	}
	var n int
	err := do(func() error {
		o, err := poolForwardOp(alg, g, true)
		if err != nil {
			return err
		}
		n = o.ws
		return nil
	})
	return n, err
}

func poolForwardOp(alg PoolAlg, g tensor.ConvGeom, train bool) (*op, error) {
	return poolForwardOpOf(alg, g, train, F32)
}

// poolForwardOpOf is poolForwardOp on data of type dt.
func poolForwardOpOf(alg PoolAlg, g tensor.ConvGeom, train bool, dt DataType) (*op, error) {
	p := inference
	if train {
		p = training
	}
	return cached(poolKey{p, alg, g, dt}, func() (*op, error) {
		bd := newBuilder()
		pd := bd.poolPDOf(alg, g, p, dt, nil)
		if bd.err != nil {
			return bd.finish(nil)
		}
		args := []any{C.DNNL_ARG_SRC, bd.memory(bd.query(pd, C.dnnl_query_src_md), false), C.DNNL_ARG_DST, bd.memory(bd.query(pd, C.dnnl_query_dst_md), false)}
		if train {
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
func PoolForward(alg PoolAlg, g tensor.ConvGeom, x, y []float32, ws []byte) error {
	if err := validPool(alg, g); err != nil {
		return err
	}
	if err := checkLens("pooling forward", len(x), g.InLen(), len(y), g.OutLen()); err != nil {
		return err
	}
	return do(func() error {
		o, err := poolForwardOp(alg, g, ws != nil)
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
func PoolBackward(alg PoolAlg, g tensor.ConvGeom, dy, dx []float32, ws []byte) error {
	if err := validPool(alg, g); err != nil {
		return err
	}
	if err := checkLens("pooling backward", len(dy), g.OutLen(), len(dx), g.InLen()); err != nil {
		return err
	}
	return do(func() error {
		fwd, err := poolForwardOp(alg, g, true)
		if err != nil {
			return err
		}
		if len(ws) < fwd.ws {
			return fmt.Errorf("dnnl: pooling backward: workspace has %d bytes, needs %d", len(ws), fwd.ws)
		}
		o, err := cached(poolKey{backward, alg, g, F32}, func() (*op, error) {
			bd := newBuilder()
			hint := bd.poolPD(alg, g, training, nil)
			pd := bd.poolPD(alg, g, backward, hint)
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
