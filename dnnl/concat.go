package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
)

const maxConcat = 7

type concatKey struct {
	rows   int
	n      int
	widths [maxConcat]int
	dt     DataType
}

// Concat joins up to 7 parts along the channel axis: part k has rows of
// widths[k] values; y has rows of their sum.
func Concat(rows int, widths []int, parts [][]float32, y []float32) error {
	acts := make([]Act, len(parts))
	for i, p := range parts {
		acts[i] = ActF32(p)
	}
	return ConcatAct(rows, widths, acts, ActF32(y))
}

// ConcatAct is Concat on activations of one storage type (u8 parts must
// share y's scale).
func ConcatAct(rows int, widths []int, parts []Act, y Act) error {
	if len(widths) < 1 || len(widths) > maxConcat || len(parts) != len(widths) {
		return fmt.Errorf("dnnl: concat of %d parts (1 to %d supported)", len(parts), maxConcat)
	}
	k := concatKey{rows: rows, n: len(widths), dt: y.Type}
	total := 0
	for i, w := range widths {
		if w < 1 || parts[i].len() < rows*w {
			return fmt.Errorf("dnnl: concat: part %d has %d values, needs %d x %d", i, parts[i].len(), rows, w)
		}
		if parts[i].Type != y.Type || parts[i].Scale != y.Scale {
			return fmt.Errorf("dnnl: concat: part %d is %v, output %v", i, parts[i], y)
		}
		k.widths[i] = w
		total += w
	}
	if y.len() < rows*total {
		return fmt.Errorf("dnnl: concat: output has %d values, needs %d", y.len(), rows*total)
	}
	dt := y.Type
	return do(func() error {
		o, err := cached(k, func() (*op, error) {
			bd := newBuilder()
			srcs := make([]C.dnnl_memory_desc_t, k.n)
			for i := range srcs {
				srcs[i], bd.err = mdOf(dt, C.dnnl_nhwc, rows, widths[i], 1, 1)
			}
			dst, _ := mdOf(dt, C.dnnl_nhwc, rows, total, 1, 1)
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
			hs[i] = ptr(parts[i].Data)
		}
		hs[len(parts)] = ptr(y.Data)
		return o.run(0, hs)
	})
}
