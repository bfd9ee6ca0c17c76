// Package tensor holds float32 tensors in NHWC layout and plain Go reference
// kernels for every operation the engine runs. The kernels are written for
// clarity, not speed: they are the oracle against which the oneDNN kernels in
// package dnnl are tested.
package tensor

import (
	"fmt"
	"math"
)

// Tensor is a dense, row-major float32 array. Image tensors are NHWC.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// FromData wraps data in a tensor, checking that its length matches shape.
func FromData(data []float32, shape ...int) (*Tensor, error) {
	if n := Numel(shape); n != len(data) {
		return nil, fmt.Errorf("tensor: shape %v needs %d values, got %d", shape, n, len(data))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}, nil
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements of t.
func (t *Tensor) Len() int { return len(t.Data) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() {
	clear(t.Data)
}

// String describes the shape of t.
func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// SameShape reports whether a and b are equal (shapes, or any int slices).
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Argmax returns the index of the largest value (the first, on ties).
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// RelErr is the largest absolute difference between a and b divided by the
// largest absolute value of b (the parity measure used throughout the tests).
func RelErr(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var maxDiff, maxRef float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		maxDiff = max(maxDiff, d)
		maxRef = max(maxRef, math.Abs(float64(b[i])))
	}
	if maxRef == 0 {
		return maxDiff
	}
	return maxDiff / maxRef
}
