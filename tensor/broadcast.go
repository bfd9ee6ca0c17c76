package tensor

import "fmt"

// BroadcastShape is the shape of an elementwise operation between tensors
// of shapes a and b: the same rank, each dimension equal or 1 on one side
// (NumPy's rule without rank extension).
func BroadcastShape(a, b []int) ([]int, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("shapes %v and %v differ in rank", a, b)
	}
	out := make([]int, len(a))
	for i := range a {
		switch {
		case a[i] == b[i] || b[i] == 1:
			out[i] = a[i]
		case a[i] == 1:
			out[i] = b[i]
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// broadcastIndex maps each flat index of shape out to the flat index of
// shape in (equal dimensions or 1) that it reads.
func broadcastIndex(out, in []int, fn func(o, i int)) {
	strides := make([]int, len(in))
	s := 1
	for d := len(in) - 1; d >= 0; d-- {
		if in[d] != 1 {
			strides[d] = s
		}
		s *= in[d]
	}
	idx := make([]int, len(out))
	n := Numel(out)
	for o := 0; o < n; o++ {
		i := 0
		for d := range idx {
			i += idx[d] * strides[d]
		}
		fn(o, i)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// MulBroadcast computes y = a * b elementwise, where y has shape out (see
// BroadcastShape) and a and b repeat along their dimensions of size 1.
func MulBroadcast(out, sa, sb []int, a, b, y []float32) {
	ia := make([]int, Numel(out))
	broadcastIndex(out, sa, func(o, i int) { ia[o] = i })
	broadcastIndex(out, sb, func(o, i int) { y[o] = a[ia[o]] * b[i] })
}

// SumTo sums x, of shape out, into y of shape in (each dimension equal or
// 1): the backward pass of a broadcast.
func SumTo(out, in []int, x, y []float32) {
	clear(y[:Numel(in)])
	broadcastIndex(out, in, func(o, i int) { y[i] += x[o] })
}

// ChannelAffine computes y = x*scale[k] + shift[k] over rows of c channels
// (k the channel); shift may be nil.
func ChannelAffine(c int, x, scale, shift, y []float32) {
	for i, v := range x {
		k := i % c
		v *= scale[k]
		if shift != nil {
			v += shift[k]
		}
		y[i] = v
	}
}
