package tensor

import "math"

// BatchNormInference normalizes x (rows of C channels) with the given
// statistics: y = gamma * (x - mean) / sqrt(var + eps) + beta. gamma and
// beta may be nil (scale or center off).
func BatchNormInference(c int, x, gamma, beta, mean, variance []float32, eps float32, y []float32) {
	for i, v := range x {
		k := i % c
		s := float32(1 / math.Sqrt(float64(variance[k]+eps)))
		if gamma != nil {
			s *= gamma[k]
		}
		o := (v - mean[k]) * s
		if beta != nil {
			o += beta[k]
		}
		y[i] = o
	}
}

// BatchNormTraining normalizes x with its own per-channel statistics and
// returns them in mean and variance (biased, divided by the row count).
func BatchNormTraining(c int, x, gamma, beta []float32, eps float32, y, mean, variance []float32) {
	rows := len(x) / c
	m := make([]float64, c)
	v := make([]float64, c)
	for i, xv := range x {
		m[i%c] += float64(xv)
	}
	for k := range m {
		m[k] /= float64(rows)
	}
	for i, xv := range x {
		d := float64(xv) - m[i%c]
		v[i%c] += d * d
	}
	for k := range v {
		v[k] /= float64(rows)
		mean[k] = float32(m[k])
		variance[k] = float32(v[k])
	}
	BatchNormInference(c, x, gamma, beta, mean, variance, eps, y)
}

// BatchNormBackward computes dx, dgamma and dbeta (either may be nil) of
// training-mode batch normalization, given the batch statistics that the
// forward pass used.
func BatchNormBackward(c int, x, dy, gamma, mean, variance []float32, eps float32, dx, dgamma, dbeta []float32) {
	rows := float64(len(x) / c)
	sumDy := make([]float64, c)
	sumDyXh := make([]float64, c)
	inv := make([]float64, c)
	for k := range inv {
		inv[k] = 1 / math.Sqrt(float64(variance[k]+eps))
	}
	for i := range x {
		k := i % c
		xh := (float64(x[i]) - float64(mean[k])) * inv[k]
		sumDy[k] += float64(dy[i])
		sumDyXh[k] += float64(dy[i]) * xh
	}
	for i := range x {
		k := i % c
		g := 1.0
		if gamma != nil {
			g = float64(gamma[k])
		}
		xh := (float64(x[i]) - float64(mean[k])) * inv[k]
		dx[i] = float32(g * inv[k] * (float64(dy[i]) - sumDy[k]/rows - xh*sumDyXh[k]/rows))
	}
	for k := 0; k < c; k++ {
		if dgamma != nil {
			dgamma[k] = float32(sumDyXh[k])
		}
		if dbeta != nil {
			dbeta[k] = float32(sumDy[k])
		}
	}
}

// BatchNormBackwardFrozen computes dx of inference-mode batch normalization
// (fixed statistics): dx = dy * gamma / sqrt(var + eps).
func BatchNormBackwardFrozen(c int, dy, gamma, variance []float32, eps float32, dx []float32) {
	for i, d := range dy {
		k := i % c
		s := float32(1 / math.Sqrt(float64(variance[k]+eps)))
		if gamma != nil {
			s *= gamma[k]
		}
		dx[i] = d * s
	}
}
