package tensor

import "math"

// Activation kinds shared by the reference and oneDNN kernels.
const (
	Linear = iota
	ReLU
	ReLU6
	Sigmoid // 1 / (1 + e^-x)
	Swish   // x * sigmoid(x), Keras' "swish" (SiLU)
)

func sigmoid(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) }

// ActivationForward applies a pointwise activation: y may alias x.
func ActivationForward(kind int, x, y []float32) {
	for i, v := range x {
		switch kind {
		case ReLU:
			v = max(v, 0)
		case ReLU6:
			v = min(max(v, 0), 6)
		case Sigmoid:
			v = sigmoid(v)
		case Swish:
			v *= sigmoid(v)
		}
		y[i] = v
	}
}

// ActivationBackward computes dx from dy and the activation's output y
// (for ReLU, ReLU6 and Sigmoid the output determines the derivative; Swish's
// depends on the input: see SwishBackward).
func ActivationBackward(kind int, y, dy, dx []float32) {
	for i, d := range dy {
		switch kind {
		case ReLU:
			if y[i] <= 0 {
				d = 0
			}
		case ReLU6:
			if y[i] <= 0 || y[i] >= 6 {
				d = 0
			}
		case Sigmoid:
			d *= y[i] * (1 - y[i])
		}
		dx[i] = d
	}
}

// SwishBackward computes dx from dy and Swish's input x:
// d/dx x*s(x) = s(x) * (1 + x*(1 - s(x))).
func SwishBackward(x, dy, dx []float32) {
	for i, d := range dy {
		s := sigmoid(x[i])
		dx[i] = d * s * (1 + x[i]*(1-s))
	}
}

// DenseForward computes y[n,o] = sum_i x[n,i] w[i,o] + b[o] (Keras kernel layout [I, O]).
func DenseForward(n, in, out int, x, w, b, y []float32) {
	for r := 0; r < n; r++ {
		for o := 0; o < out; o++ {
			var acc float32
			if b != nil {
				acc = b[o]
			}
			for i := 0; i < in; i++ {
				acc += x[r*in+i] * w[i*out+o]
			}
			y[r*out+o] = acc
		}
	}
}

// DenseBackward computes dx (if not nil), dw and db (if not nil).
func DenseBackward(n, in, out int, x, w, dy, dx, dw, db []float32) {
	if dx != nil {
		for r := 0; r < n; r++ {
			for i := 0; i < in; i++ {
				var acc float32
				for o := 0; o < out; o++ {
					acc += dy[r*out+o] * w[i*out+o]
				}
				dx[r*in+i] = acc
			}
		}
	}
	for i := 0; i < in; i++ {
		for o := 0; o < out; o++ {
			var acc float32
			for r := 0; r < n; r++ {
				acc += x[r*in+i] * dy[r*out+o]
			}
			dw[i*out+o] = acc
		}
	}
	if db != nil {
		for o := 0; o < out; o++ {
			var acc float32
			for r := 0; r < n; r++ {
				acc += dy[r*out+o]
			}
			db[o] = acc
		}
	}
}

// Concat joins tensors along the last axis: each part has rows of widths[k]
// values and y has rows of sum(widths).
func Concat(rows int, widths []int, parts [][]float32, y []float32) {
	total := 0
	for _, w := range widths {
		total += w
	}
	off := 0
	for k, w := range widths {
		for r := 0; r < rows; r++ {
			copy(y[r*total+off:r*total+off+w], parts[k][r*w:(r+1)*w])
		}
		off += w
	}
}

// Split is the inverse of Concat (the backward pass of a concatenation).
func Split(rows int, widths []int, y []float32, parts [][]float32) {
	total := 0
	for _, w := range widths {
		total += w
	}
	off := 0
	for k, w := range widths {
		if parts[k] != nil {
			for r := 0; r < rows; r++ {
				copy(parts[k][r*w:(r+1)*w], y[r*total+off:r*total+off+w])
			}
		}
		off += w
	}
}

// GlobalAvgPool averages each channel over the spatial positions: x is
// [n, hw, c] and y is [n, c].
func GlobalAvgPool(n, hw, c int, x, y []float32) {
	clear(y[:n*c])
	for i := 0; i < n; i++ {
		for p := 0; p < hw; p++ {
			for k := 0; k < c; k++ {
				y[i*c+k] += x[(i*hw+p)*c+k]
			}
		}
		for k := 0; k < c; k++ {
			y[i*c+k] /= float32(hw)
		}
	}
}

// GlobalAvgPoolBackward spreads dy evenly over the spatial positions.
func GlobalAvgPoolBackward(n, hw, c int, dy, dx []float32) {
	for i := 0; i < n; i++ {
		for p := 0; p < hw; p++ {
			for k := 0; k < c; k++ {
				dx[(i*hw+p)*c+k] = dy[i*c+k] / float32(hw)
			}
		}
	}
}

// Softmax applies a numerically stable softmax to each row of c values.
func Softmax(c int, x, y []float32) {
	for r := 0; r < len(x)/c; r++ {
		row := x[r*c : (r+1)*c]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for k, v := range row {
			e := math.Exp(float64(v - m))
			y[r*c+k] = float32(e)
			s += e
		}
		for k := range row {
			y[r*c+k] = float32(float64(y[r*c+k]) / s)
		}
	}
}
