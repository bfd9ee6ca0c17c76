package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"unsafe"

	"trashsort/tensor"
)

// The weight gradient of a stride-1 convolution whose output has the size of
// its input (SAME padding) is, for each kernel tap (ky, kx), one matrix
// product: dw[ky][kx] += X_shifted^T dY, where X and dY are the NHWC
// tensors read as [pixels, channels] matrices, X_shifted is X moved by the
// tap's offset in rows, and dY's rows whose input pixel falls in the padding
// are zeroed. In the Keras layout dw[ky][kx] is a contiguous [C, F] block,
// so oneDNN's sgemm (its JIT GEMM, beta = 1) adds each tap's product
// straight into the caller's gradient: no blocked buffer, no reorder.
//
// On small images (InceptionV3's 5x5 top blocks at 224 px, the 7x7 end of
// MobileNetV2) oneDNN's direct backward-weights kernels spread too little
// work over the pixels, and the GEMMs are 10 to 35% faster, reorder
// included; see gemmWeightsOK for where they are used.

// GEMMWeights lets ConvBackwardWeights compute the weight gradients of the
// convolutions gemmWeightsOK admits with GEMMs. It is a variable for tests
// and comparisons; set it before training starts.
var GEMMWeights = true

// gemmWeightsOK reports whether ConvBackwardWeights computes g's weight
// gradient with GEMMs: 1x1, 1xk and kx1 stride-1 convolutions that keep the
// image size, not grouped. Square kernels (3x3) stay on oneDNN's direct
// kernel, which is as fast there: each of their taps would need its own
// masked copy of dY and a GEMM a ninth of the work.
func gemmWeightsOK(g tensor.ConvGeom) bool {
	return GEMMWeights && g.Groups == 1 && g.SH == 1 && g.SW == 1 &&
		(g.KH == 1 || g.KW == 1) && g.OH == g.H && g.OW == g.W
}

// gemmScratch holds the masked copies of dY and the vector of ones for bias
// gradients. It is used on the oneDNN thread only.
var gemmScratch struct {
	masked []float32
	ones   []float32
}

// gemmBackwardWeights adds the weight gradient (Keras layout) to dw and,
// when db is not nil, the bias gradient to db; see gemmWeightsOK. It runs on
// the oneDNN thread.
func gemmBackwardWeights(g tensor.ConvGeom, x, dy, dw, db []float32) error {
	pixels := g.N * g.H * g.W
	block := g.C * g.F
	for ky := 0; ky < g.KH; ky++ {
		for kx := 0; kx < g.KW; kx++ {
			dyH, dyW := ky-g.PadT, kx-g.PadL // input pixel = output pixel + (dyH, dyW)
			shift := dyH*g.W + dyW
			rows := dy
			if shift != 0 {
				rows = maskedRows(g, dy, dyH, dyW)
			}
			// Output rows [lo, hi) read input rows [lo+shift, hi+shift):
			// all in range, and every skipped row is a zeroed one.
			lo, hi := max(0, -shift), pixels-max(0, shift)
			if hi <= lo {
				continue
			}
			a := unsafe.Pointer(&x[(lo+shift)*g.C])
			b := unsafe.Pointer(&rows[lo*g.F])
			c := unsafe.Pointer(&dw[(ky*g.KW+kx)*block])
			if err := sgemmTN(g.C, g.F, hi-lo, a, g.C, b, g.F, c, g.F); err != nil {
				return err
			}
		}
	}
	if db == nil {
		return nil
	}
	if len(gemmScratch.ones) < pixels {
		gemmScratch.ones = make([]float32, pixels)
		for i := range gemmScratch.ones {
			gemmScratch.ones[i] = 1
		}
	}
	// db[1, F] += ones[pixels]^T dY[pixels, F].
	return sgemmTN(1, g.F, pixels, ptr(gemmScratch.ones), 1, ptr(dy), g.F, ptr(db), g.F)
}

// maskedRows returns a copy of dy with the rows zeroed whose input pixel,
// moved by (dyH, dyW), falls outside the image.
func maskedRows(g tensor.ConvGeom, dy []float32, dyH, dyW int) []float32 {
	n := len(dy)
	if cap(gemmScratch.masked) < n {
		gemmScratch.masked = make([]float32, n)
	}
	m := gemmScratch.masked[:n]
	copy(m, dy)
	row := 0
	for range g.N {
		for h := range g.H {
			hOut := h+dyH < 0 || h+dyH >= g.H
			for w := range g.W {
				if hOut || w+dyW < 0 || w+dyW >= g.W {
					clear(m[row*g.F : (row+1)*g.F])
				}
				row++
			}
		}
	}
	return m
}

// sgemmTN computes c[m, n] += a^T b for row-major a ([k, m], leading
// dimension lda) and b ([k, n], ldb), with oneDNN's multithreaded sgemm
// (signals blocked: see ts_sgemm).
func sgemmTN(m, n, k int, a unsafe.Pointer, lda int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int) error {
	return check(C.ts_sgemm('T', 'N', C.dnnl_dim_t(m), C.dnnl_dim_t(n), C.dnnl_dim_t(k), 1,
		(*C.float)(a), C.dnnl_dim_t(lda), (*C.float)(b), C.dnnl_dim_t(ldb), 1, (*C.float)(c), C.dnnl_dim_t(ldc)), "sgemm")
}
