package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// maxRank is the largest tensor rank the broadcasting ops take.
const maxRank = 5

// shape is a fixed-size tensor shape, usable as part of a cache key.
type shape struct {
	rank int
	dims [maxRank]int
}

func toShape(what string, s []int) (shape, error) {
	var out shape
	if len(s) < 1 || len(s) > maxRank {
		return out, fmt.Errorf("dnnl: %s: rank %d outside [1, %d]", what, len(s), maxRank)
	}
	out.rank = len(s)
	for i, d := range s {
		if d < 1 {
			return out, fmt.Errorf("dnnl: %s: bad shape %v", what, s)
		}
		out.dims[i] = d
	}
	return out, nil
}

func (s shape) numel() int {
	n := 1
	for _, d := range s.dims[:s.rank] {
		n *= d
	}
	return n
}

// plainMD describes a dense row-major float32 tensor of shape s (the
// tensor's own layout, whatever its dimensions mean).
func plainMD(s shape) (C.dnnl_memory_desc_t, error) {
	var m C.dnnl_memory_desc_t
	var d [maxRank]C.int64_t
	for i := 0; i < s.rank; i++ {
		d[i] = C.int64_t(s.dims[i])
	}
	tags := [...]C.dnnl_format_tag_t{C.dnnl_a, C.dnnl_ab, C.dnnl_abc, C.dnnl_abcd, C.dnnl_abcde}
	st := C.dnnl_memory_desc_init_by_tag(&m, C.int(s.rank), &d[0], C.dnnl_f32, tags[s.rank-1])
	return m, check(st, fmt.Sprintf("memory descriptor %v", s.dims[:s.rank]))
}

type binaryKey struct {
	alg     C.dnnl_alg_kind_t
	a, b, y shape
}

// binaryOp is one oneDNN binary primitive y = a (op) b with b broadcast
// along its dimensions of size 1.
func binaryOp(k binaryKey) (*op, error) {
	return cached(k, func() (*op, error) {
		bd := newBuilder()
		var mds [3]C.dnnl_memory_desc_t
		for i, s := range []shape{k.a, k.b, k.y} {
			if bd.err == nil {
				mds[i], bd.err = plainMD(s)
			}
		}
		var d C.dnnl_binary_desc_t
		if bd.err == nil {
			bd.err = check(C.dnnl_binary_desc_init(&d, k.alg, &mds[0], &mds[1], &mds[2]), "binary")
		}
		pd := bd.pd(unsafe.Pointer(&d), nil, nil, "binary")
		bd.step(pd, C.DNNL_ARG_SRC_0, bd.memory(&mds[0], false), C.DNNL_ARG_SRC_1, bd.memory(&mds[1], false), C.DNNL_ARG_DST, bd.memory(&mds[2], false))
		return bd.finish(pd)
	})
}

// MulBroadcast computes y = a * b elementwise for row-major tensors of
// shapes sa and sb (the same rank, up to 5): each of b's dimensions equals
// a's or is 1, and b repeats along those (Keras' Multiply of a feature map
// by squeeze-and-excitation weights). y has a's shape.
func MulBroadcast(sa, sb []int, a, b, y []float32) error {
	ka, err := toShape("multiply", sa)
	if err != nil {
		return err
	}
	kb, err := toShape("multiply", sb)
	if err != nil {
		return err
	}
	if ka.rank != kb.rank {
		return fmt.Errorf("dnnl: multiply: shapes %v and %v differ in rank", sa, sb)
	}
	for i := 0; i < ka.rank; i++ {
		if kb.dims[i] != ka.dims[i] && kb.dims[i] != 1 {
			return fmt.Errorf("dnnl: multiply: shape %v does not broadcast to %v", sb, sa)
		}
	}
	if err := checkLens("multiply", len(a), ka.numel(), len(b), kb.numel(), len(y), ka.numel()); err != nil {
		return err
	}
	return do(func() error {
		o, err := binaryOp(binaryKey{C.dnnl_binary_mul, ka, kb, ka})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(a), ptr(b), ptr(y)})
	})
}

// ChannelAffine computes y = x*scale[k] + shift[k] over rows of c channels
// (k the channel); shift may be nil. It is Keras' Rescaling and, with the
// scale and shift of its statistics, Normalization.
func ChannelAffine(rows, c int, x, scale, shift, y []float32) error {
	if rows < 1 || c < 1 {
		return fmt.Errorf("dnnl: channel affine: bad shape %d x %d", rows, c)
	}
	if err := checkLens("channel affine", len(x), rows*c, len(y), rows*c, len(scale), c); err != nil {
		return err
	}
	if shift != nil && len(shift) < c {
		return fmt.Errorf("dnnl: channel affine: shift has %d values, needs %d", len(shift), c)
	}
	data := shape{rank: 2, dims: [maxRank]int{rows, c}}
	ch := shape{rank: 2, dims: [maxRank]int{1, c}}
	return do(func() error {
		o, err := binaryOp(binaryKey{C.dnnl_binary_mul, data, ch, data})
		if err != nil {
			return err
		}
		if err := o.run(0, h{ptr(x), ptr(scale), ptr(y)}); err != nil {
			return err
		}
		if shift == nil {
			return nil
		}
		o, err = binaryOp(binaryKey{C.dnnl_binary_add, data, ch, data})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(y), ptr(shift), ptr(y)})
	})
}

type reduceKey struct{ x, y shape }

// SumTo sums x, of shape sx, over the dimensions where shape sy is 1 (the
// same rank; the others equal): the backward pass of MulBroadcast for b.
func SumTo(sx, sy []int, x, y []float32) error {
	kx, err := toShape("sum", sx)
	if err != nil {
		return err
	}
	ky, err := toShape("sum", sy)
	if err != nil {
		return err
	}
	if kx.rank != ky.rank {
		return fmt.Errorf("dnnl: sum: shapes %v and %v differ in rank", sx, sy)
	}
	for i := 0; i < kx.rank; i++ {
		if ky.dims[i] != kx.dims[i] && ky.dims[i] != 1 {
			return fmt.Errorf("dnnl: sum: shape %v does not reduce to %v", sx, sy)
		}
	}
	if err := checkLens("sum", len(x), kx.numel(), len(y), ky.numel()); err != nil {
		return err
	}
	if kx == ky {
		copy(y, x[:kx.numel()])
		return nil
	}
	return do(func() error {
		o, err := cached(reduceKey{kx, ky}, func() (*op, error) {
			bd := newBuilder()
			src, err := plainMD(kx)
			if err != nil {
				bd.err = err
				return bd.finish(nil)
			}
			dst, err := plainMD(ky)
			if err != nil {
				bd.err = err
				return bd.finish(nil)
			}
			var d C.dnnl_reduction_desc_t
			bd.err = check(C.dnnl_reduction_desc_init(&d, C.dnnl_reduction_sum, &src, &dst, 0, 0), "reduction")
			pd := bd.pd(unsafe.Pointer(&d), nil, nil, "reduction")
			bd.step(pd, C.DNNL_ARG_SRC, bd.memory(&src, false), C.DNNL_ARG_DST, bd.memory(&dst, false))
			return bd.finish(pd)
		})
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(x), ptr(y)})
	})
}
