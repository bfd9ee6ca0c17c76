package dnnl

import (
	"math"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

// int8Tol is the relative error allowed for an int8 convolution against
// the float32 reference: inputs carry 8 bits over the calibrated range and
// weights 8 bits per output channel, so each product is off by about
// 2^-8 relative, and sums of many such errors partly cancel.
var int8Tol = int8Tolerance()

// int8Tolerance is int8Tol for this CPU: without VNNI, unsigned inputs
// carry 7 bits (U8Top) and oneDNN halves the weights' scale, so the error
// grows, most under ReLU6, whose clipping caps the reference.
func int8Tolerance() float64 {
	if HasVNNI() {
		return 2e-2
	}
	return 4e-2
}

func TestConvInt8MatchesReference(t *testing.T) {
	if !HasInt8() {
		t.Skip("no int8 kernels for this CPU: int8 convolutions fall back to float32 here")
	}
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range convCases {
		for _, signed := range []bool{false, true} {
			g, err := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, tc.s, tc.s, tc.pad, tc.groups)
			if err != nil {
				t.Fatal(err)
			}
			x, w, b := randSlice(r, g.InLen()), randSlice(r, g.WeightLen()), randSlice(r, g.F)
			var rng Int8Range
			for i := range x {
				if !signed {
					x[i] = float32(math.Abs(float64(x[i])))
				}
				rng.Max = max(rng.Max, float32(math.Abs(float64(x[i]))))
			}
			rng.Signed = signed
			for _, act := range []Activation{Linear, ReLU} {
				want := make([]float32, g.OutLen())
				tensor.ConvForward(g, x, w, b, want)
				tensor.ActivationForward(int(act), want, want)
				got := make([]float32, g.OutLen())
				cw := NewConvWeights(w, b)
				if err := cw.ForwardInt8(g, x, got, act, rng); err != nil {
					t.Fatal(err)
				}
				e := tensor.RelErr(got, want)
				t.Logf("%v signed=%v %v: int8 rel err %.2g", tc, signed, act, e)
				if e > int8Tol || e == 0 {
					t.Errorf("%v signed=%v %v: int8 rel err %g, want (0, %g]", tc, signed, act, e, int8Tol)
				}
			}
		}
	}
}

func TestQuantizeWeightsPerChannel(t *testing.T) {
	g, _ := tensor.NewConvGeom(1, 3, 3, 2, 3, 1, 1, 1, 1, tensor.Valid, 1)
	// Kernel [1, 1, 2, 3]: channel f's values are w[f] and w[3+f].
	w := []float32{1, -0.5, 0, 0.25, 0.5, 0}
	q := quantize(g, w, []float32{1, 1, 1}, Int8Range{Max: 2}, 0)
	wantW := []int8{127, -127, 0, 32, 127, 0}
	for i := range wantW {
		if q.w[i] != wantW[i] {
			t.Fatalf("quantized weights %v, want %v", q.w, wantW)
		}
	}
	// sx = U8Top/2 (255/2 with VNNI); channel scales 127, 254, 1 (an
	// all-zero channel keeps 1).
	sx := float64(U8Top()) / 2
	for f, sw := range []float64{127, 254, 1} {
		if got, want := float64(q.oscale[f]), 1/(sx*sw); math.Abs(got-want) > 1e-9 {
			t.Errorf("oscale[%d] = %g, want %g", f, got, want)
		}
		if got, want := float64(q.bias[f]), sx*sw; math.Abs(got-want) > 1e-3 {
			t.Errorf("bias[%d] = %g, want %g", f, got, want)
		}
	}
}

// TestInt8Clip: Clip narrows the quantized range to a fraction of Max, so
// the scale grows by 1/Clip and inputs beyond Clip*Max saturate; Clip 0
// means the whole range.
func TestInt8Clip(t *testing.T) {
	if !HasInt8() {
		t.Skip("no int8 kernels for this CPU: int8 convolutions fall back to float32 here")
	}
	rng := Int8Range{Max: 8}
	if s1, s2 := rng.scale(), (Int8Range{Max: 8, Clip: 0.5}).scale(); s2 != 2*s1 {
		t.Errorf("clip 0.5 scale %g, want twice the full range's %g", s2, s1)
	}
	// A 1x1 convolution of one channel with weight 1: y = x after quantization.
	g, err := tensor.NewConvGeom(1, 1, 4, 1, 1, 1, 1, 1, 1, "valid", 1)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 4, 8}
	run := func(clip float32) []float32 {
		y := make([]float32, 4)
		q := rng
		q.Clip = clip
		if err := NewConvWeights([]float32{1}, nil).ForwardInt8(g, x, y, Linear, q); err != nil {
			t.Fatal(err)
		}
		return y
	}
	full, zero, half := run(1), run(0), run(0.5)
	for i := range x {
		if full[i] != zero[i] {
			t.Errorf("clip 0 gives %v, clip 1 %v", zero, full)
			break
		}
	}
	if tol := 2.5 * int8Tol; math.Abs(float64(half[3]-4)) > 4*tol || math.Abs(float64(half[2]-4)) > 4*tol || math.Abs(float64(full[3]-8)) > 4*tol {
		t.Errorf("clip 0.5 of range 8: %v, want 8 saturated to 4 (full range: %v)", half, full)
	}
	if math.Abs(float64(half[0]-1)) > math.Abs(float64(full[0]-1))+1e-6 {
		t.Errorf("the narrower range quantized 1 worse: %g vs %g", half[0], full[0])
	}
}
