package tensor

import "fmt"

// ConvGeom describes a 2-D convolution or pooling window over an NHWC input:
// N images of H x W x C, producing OH x OW x F outputs with a KH x KW window,
// strides SH, SW and explicit padding on each side. Groups is 1 for an
// ordinary convolution and C for a depthwise one (then F = C * multiplier).
type ConvGeom struct {
	N, H, W, C     int
	OH, OW, F      int
	KH, KW, SH, SW int
	PadT, PadL     int
	PadB, PadR     int
	Groups         int
}

// Padding mode names, as in Keras.
const (
	Valid = "valid"
	Same  = "same"
)

// SamePad returns TensorFlow's SAME output size and padding (before, after)
// for one spatial dimension.
func SamePad(in, k, s int) (out, before, after int) {
	out = (in + s - 1) / s
	total := max((out-1)*s+k-in, 0)
	return out, total / 2, total - total/2
}

// NewConvGeom computes the output size and padding for an input of n x h x w x c,
// a kh x kw window with strides sh, sw, padding "valid" or "same", f output
// channels and the given number of groups.
func NewConvGeom(n, h, w, c, f, kh, kw, sh, sw int, padding string, groups int) (ConvGeom, error) {
	g := ConvGeom{N: n, H: h, W: w, C: c, F: f, KH: kh, KW: kw, SH: sh, SW: sw, Groups: groups}
	if groups < 1 || c%groups != 0 || f%groups != 0 {
		return g, fmt.Errorf("conv: %d input and %d output channels do not split into %d groups", c, f, groups)
	}
	if kh < 1 || kw < 1 || sh < 1 || sw < 1 {
		return g, fmt.Errorf("conv: bad window %dx%d stride %dx%d", kh, kw, sh, sw)
	}
	switch padding {
	case Valid:
		g.OH = (h-kh)/sh + 1
		g.OW = (w-kw)/sw + 1
		if h < kh || w < kw {
			return g, fmt.Errorf("conv: input %dx%d smaller than window %dx%d with valid padding", h, w, kh, kw)
		}
	case Same:
		g.OH, g.PadT, g.PadB = SamePad(h, kh, sh)
		g.OW, g.PadL, g.PadR = SamePad(w, kw, sw)
	default:
		return g, fmt.Errorf("conv: unknown padding %q (want valid or same)", padding)
	}
	return g, nil
}

// InLen is the number of input elements.
func (g ConvGeom) InLen() int { return g.N * g.H * g.W * g.C }

// OutLen is the number of output elements.
func (g ConvGeom) OutLen() int { return g.N * g.OH * g.OW * g.F }

// WeightLen is the number of kernel elements in Keras layout [KH, KW, C/Groups... ].
func (g ConvGeom) WeightLen() int { return g.KH * g.KW * (g.C / g.Groups) * g.F }

// FLOPs is the number of floating-point operations (2 per multiply-add) of the forward pass.
func (g ConvGeom) FLOPs() float64 {
	return 2 * float64(g.N*g.OH*g.OW*g.F) * float64(g.KH*g.KW*(g.C/g.Groups))
}

// weight index in Keras layout. Ordinary: [KH][KW][C][F]. Depthwise
// (Groups == C): [KH][KW][C][F/C].
func (g ConvGeom) widx(ky, kx, ci, fo int) int {
	if g.Groups == 1 {
		return ((ky*g.KW+kx)*g.C+ci)*g.F + fo
	}
	m := g.F / g.C
	return ((ky*g.KW+kx)*g.C+ci)*m + fo%m
}

// forEach calls fn for every (output position, kernel tap, input channel,
// output channel) that contributes, with the flat input, weight and output
// indices.
func (g ConvGeom) forEach(fn func(xi, wi, yi int)) {
	cpg, fpg := g.C/g.Groups, g.F/g.Groups
	for n := 0; n < g.N; n++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				ybase := ((n*g.OH+oy)*g.OW + ox) * g.F
				g.window(n, oy, ox, func(ky, kx, xbase int) {
					for fo := 0; fo < g.F; fo++ {
						grp := fo / fpg
						for c := grp * cpg; c < (grp+1)*cpg; c++ {
							fn(xbase+c, g.widx(ky, kx, c, fo), ybase+fo)
						}
					}
				})
			}
		}
	}
}

// ConvForward computes y = conv(x, w) + b (b may be nil). Weights are in
// Keras layout: [KH, KW, C, F], or [KH, KW, C, F/C] for depthwise.
func ConvForward(g ConvGeom, x, w, b, y []float32) {
	clear(y[:g.OutLen()])
	g.forEach(func(xi, wi, yi int) { y[yi] += x[xi] * w[wi] })
	if b != nil {
		for i := range y[:g.OutLen()] {
			y[i] += b[i%g.F]
		}
	}
}

// ConvBackwardData computes dx from dy and the weights.
func ConvBackwardData(g ConvGeom, dy, w, dx []float32) {
	clear(dx[:g.InLen()])
	g.forEach(func(xi, wi, yi int) { dx[xi] += dy[yi] * w[wi] })
}

// ConvBackwardWeights computes dw (and db when not nil) from x and dy.
func ConvBackwardWeights(g ConvGeom, x, dy, dw, db []float32) {
	clear(dw[:g.WeightLen()])
	g.forEach(func(xi, wi, yi int) { dw[wi] += x[xi] * dy[yi] })
	if db != nil {
		clear(db[:g.F])
		for i, v := range dy[:g.OutLen()] {
			db[i%g.F] += v
		}
	}
}
