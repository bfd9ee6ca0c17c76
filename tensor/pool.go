package tensor

import "math"

// Pooling kinds.
const (
	MaxPool = iota
	AvgPool
)

// PoolForward computes max or average pooling. Geometry g has F == C and
// Groups == C. Padded positions never contribute: max ignores them and the
// average divides by the number of real inputs in the window, as TensorFlow's
// SAME pooling does.
func PoolForward(kind int, g ConvGeom, x, y []float32) {
	for n := 0; n < g.N; n++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				for c := 0; c < g.C; c++ {
					acc, cnt := float32(0), 0
					if kind == MaxPool {
						acc = float32(math.Inf(-1))
					}
					g.window(n, oy, ox, func(_, _, xb int) {
						v := x[xb+c]
						if kind == MaxPool {
							acc = max(acc, v)
						} else {
							acc += v
						}
						cnt++
					})
					if kind == AvgPool && cnt > 0 {
						acc /= float32(cnt)
					}
					y[((n*g.OH+oy)*g.OW+ox)*g.C+c] = acc
				}
			}
		}
	}
}

// window calls fn with the kernel tap (ky, kx) and the base index (channel
// 0) of every real input position under output position (oy, ox): the
// window walk that convolution and pooling share.
func (g ConvGeom) window(n, oy, ox int, fn func(ky, kx, xb int)) {
	for ky := 0; ky < g.KH; ky++ {
		iy := oy*g.SH + ky - g.PadT
		if iy < 0 || iy >= g.H {
			continue
		}
		for kx := 0; kx < g.KW; kx++ {
			ix := ox*g.SW + kx - g.PadL
			if ix < 0 || ix >= g.W {
				continue
			}
			fn(ky, kx, ((n*g.H+iy)*g.W+ix)*g.C)
		}
	}
}

// PoolBackward computes dx for max or average pooling. Max pooling routes
// each output gradient to the first maximal input of its window.
func PoolBackward(kind int, g ConvGeom, x, dy, dx []float32) {
	clear(dx[:g.InLen()])
	for n := 0; n < g.N; n++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				for c := 0; c < g.C; c++ {
					d := dy[((n*g.OH+oy)*g.OW+ox)*g.C+c]
					if kind == MaxPool {
						best, bi := float32(math.Inf(-1)), -1
						g.window(n, oy, ox, func(_, _, xb int) {
							if x[xb+c] > best {
								best, bi = x[xb+c], xb+c
							}
						})
						if bi >= 0 {
							dx[bi] += d
						}
						continue
					}
					cnt := 0
					g.window(n, oy, ox, func(_, _, _ int) { cnt++ })
					g.window(n, oy, ox, func(_, _, xb int) { dx[xb+c] += d / float32(cnt) })
				}
			}
		}
	}
}
