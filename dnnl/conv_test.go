package dnnl

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"trashsort/tensor"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

const tol = 1e-4

// convCases cover InceptionV3's kernel shapes, strides and paddings, and depthwise.
var convCases = []struct {
	n, h, w, c, f, kh, kw, s int
	pad                      string
	groups                   int
}{
	{2, 9, 9, 8, 16, 1, 1, 1, tensor.Valid, 1},
	{2, 9, 9, 8, 16, 3, 3, 1, tensor.Same, 1},
	{2, 9, 9, 8, 16, 3, 3, 2, tensor.Valid, 1},
	{2, 10, 10, 8, 16, 3, 3, 2, tensor.Same, 1},
	{2, 8, 8, 16, 12, 1, 7, 1, tensor.Same, 1},
	{2, 8, 8, 16, 12, 7, 1, 1, tensor.Same, 1},
	{2, 8, 8, 16, 12, 1, 3, 1, tensor.Same, 1},
	{2, 8, 8, 16, 12, 3, 1, 1, tensor.Same, 1},
	{1, 11, 11, 3, 32, 3, 3, 2, tensor.Valid, 1},
	{2, 12, 12, 3, 8, 5, 5, 1, tensor.Same, 1},
	{2, 9, 9, 16, 16, 3, 3, 1, tensor.Same, 16},
	{2, 10, 10, 16, 16, 3, 3, 2, tensor.Valid, 16},
	{2, 11, 11, 16, 16, 5, 5, 2, tensor.Valid, 16},
	{2, 9, 9, 16, 16, 5, 5, 1, tensor.Same, 16},
}

func TestConvMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range convCases {
		for _, bias := range []bool{false, true} {
			for _, act := range []Activation{Linear, ReLU, ReLU6, Sigmoid, Swish} {
				name := fmt.Sprintf("%v/bias=%v/act=%v", tc, bias, act)
				t.Run(name, func(t *testing.T) {
					g, err := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, tc.s, tc.s, tc.pad, tc.groups)
					if err != nil {
						t.Fatal(err)
					}
					x, w := randSlice(r, g.InLen()), randSlice(r, g.WeightLen())
					var b []float32
					if bias {
						b = randSlice(r, g.F)
					}
					want := make([]float32, g.OutLen())
					tensor.ConvForward(g, x, w, b, want)
					tensor.ActivationForward(int(act), want, want)
					got := make([]float32, g.OutLen())
					if err := ConvForward(g, x, w, b, got, act); err != nil {
						t.Fatal(err)
					}
					if e := tensor.RelErr(got, want); e > tol {
						t.Errorf("forward rel err %g", e)
					}
					if act != Linear {
						return
					}
					dy := randSlice(r, g.OutLen())
					wantDx, gotDx := make([]float32, g.InLen()), make([]float32, g.InLen())
					tensor.ConvBackwardData(g, dy, w, wantDx)
					if err := ConvBackwardData(g, dy, w, gotDx); err != nil {
						t.Fatal(err)
					}
					if e := tensor.RelErr(gotDx, wantDx); e > tol {
						t.Errorf("backward data rel err %g", e)
					}
					checkBackwardWeights(t, r, g, x, dy, bias)
				})
			}
		}
	}
}

// TestConvBackwardWeightsGEMM: the weight and bias gradients of the
// convolutions that gemmWeightsOK admits (1x1, 1xk, kx1, stride 1, SAME,
// including even kernels with uneven padding) match the reference both with
// GEMMs and with oneDNN's convolution kernel, added to what the buffers
// hold; other shapes are not admitted.
func TestConvBackwardWeightsGEMM(t *testing.T) {
	defer func(v bool) { GEMMWeights = v }(GEMMWeights)
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		n, h, w, c, f, kh, kw int
		pad                   string
		gemm                  bool
	}{
		{2, 5, 5, 24, 40, 1, 1, tensor.Valid, true},
		{3, 7, 7, 16, 8, 1, 1, tensor.Same, true},
		{2, 5, 5, 24, 40, 1, 3, tensor.Same, true},
		{2, 5, 5, 24, 40, 3, 1, tensor.Same, true},
		{2, 8, 6, 16, 12, 1, 7, tensor.Same, true},
		{2, 6, 8, 16, 12, 7, 1, tensor.Same, true},
		{2, 7, 7, 8, 16, 1, 2, tensor.Same, true},
		{2, 7, 5, 8, 16, 4, 1, tensor.Same, true},
		{1, 1, 9, 8, 8, 1, 3, tensor.Same, true},
		{2, 5, 5, 24, 40, 3, 3, tensor.Same, false},
		{2, 8, 8, 16, 12, 1, 3, tensor.Valid, false},
	}
	for _, tc := range cases {
		for _, gemm := range []bool{true, false} {
			for _, bias := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/gemm=%v/bias=%v", tc, gemm, bias), func(t *testing.T) {
					GEMMWeights = gemm
					g, err := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, 1, 1, tc.pad, 1)
					if err != nil {
						t.Fatal(err)
					}
					if got := gemmWeightsOK(g); got != (gemm && tc.gemm) {
						t.Fatalf("gemmWeightsOK = %v", got)
					}
					checkBackwardWeights(t, r, g, randSlice(r, g.InLen()), randSlice(r, g.OutLen()), bias)
				})
			}
		}
	}
}

// checkBackwardWeights checks ConvBackwardWeights against the reference,
// the weight (and with bias, the bias) gradients added to random values
// already in the buffers.
func checkBackwardWeights(t *testing.T, r *rand.Rand, g tensor.ConvGeom, x, dy []float32, bias bool) {
	t.Helper()
	ew, eb := backwardWeightsErr(t, r, g, x, dy, bias, ConvBackwardWeights)
	if ew > tol {
		t.Errorf("backward weights rel err %g", ew)
	}
	if bias && eb > tol {
		t.Errorf("backward bias rel err %g", eb)
	}
}

// backwardWeightsErr runs bw (ConvBackwardWeights or its bfloat16 form) on
// gradient buffers that already hold random values, and returns its
// relative errors against the reference for the weight and bias gradients
// (the second 0 without bias).
func backwardWeightsErr(t *testing.T, r *rand.Rand, g tensor.ConvGeom, x, dy []float32, bias bool,
	bw func(g tensor.ConvGeom, x, dy, dw, db []float32) error) (float64, float64) {
	t.Helper()
	wantDw, gotDw := make([]float32, g.WeightLen()), randSlice(r, g.WeightLen())
	var wantDb, gotDb []float32
	if bias {
		wantDb, gotDb = make([]float32, g.F), randSlice(r, g.F)
	}
	tensor.ConvBackwardWeights(g, x, dy, wantDw, wantDb)
	addTo(wantDw, gotDw)
	addTo(wantDb, gotDb)
	if err := bw(g, x, dy, gotDw, gotDb); err != nil {
		t.Fatal(err)
	}
	return tensor.RelErr(gotDw, wantDw), tensor.RelErr(gotDb, wantDb)
}

func TestConvRejectsShortBuffers(t *testing.T) {
	g, _ := tensor.NewConvGeom(1, 4, 4, 2, 2, 3, 3, 1, 1, tensor.Same, 1)
	err := ConvForward(g, make([]float32, 3), make([]float32, g.WeightLen()), nil, make([]float32, g.OutLen()), 0)
	if err == nil {
		t.Fatal("want error for short input")
	}
}

func TestConvWeightsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range convCases {
		g, err := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, tc.s, tc.s, tc.pad, tc.groups)
		if err != nil {
			t.Fatal(err)
		}
		x, w, b := randSlice(r, g.InLen()), randSlice(r, g.WeightLen()), randSlice(r, g.F)
		want := make([]float32, g.OutLen())
		tensor.ConvForward(g, x, w, b, want)
		tensor.ActivationForward(tensor.ReLU6, want, want)
		cw := NewConvWeights(w, b)
		for _, dt := range []DataType{F32, BF16, F32} {
			if dt == BF16 && !HasBF16() {
				continue
			}
			// A plain call on the same geometry in between must not disturb the packed weights.
			other, scratch := randSlice(r, g.WeightLen()), make([]float32, g.OutLen())
			if err := ConvForward(g, x, other, nil, scratch, ReLU6); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, g.OutLen())
			if err := cw.Forward(g, x, got, ReLU6, dt); err != nil {
				t.Fatal(err)
			}
			limit := tol
			if dt == BF16 {
				limit = 2e-2
			}
			if e := tensor.RelErr(got, want); e > limit {
				t.Errorf("%v %v: rel err %g > %g", tc, dt, e, limit)
			}
		}
	}
}

// TestWinogradMatchesReference: frozen float32 3x3 stride-1 convolutions
// run on oneDNN's Winograd kernel where the CPU has it, within 1e-5 of the
// reference, with and without bias, on InceptionV3-like shapes whose sizes
// are not multiples of the 4x4 output tiles.
func TestWinogradMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	shapes := []struct{ n, h, w, c, f int }{{2, 9, 9, 8, 16}, {1, 35, 35, 32, 48}, {2, 17, 13, 64, 32}}
	for _, s := range shapes {
		for _, bias := range []bool{false, true} {
			g, err := tensor.NewConvGeom(s.n, s.h, s.w, s.c, s.f, 3, 3, 1, 1, tensor.Same, 1)
			if err != nil {
				t.Fatal(err)
			}
			x, w := randSlice(r, g.InLen()), randSlice(r, g.WeightLen())
			var b []float32
			if bias {
				b = randSlice(r, g.F)
			}
			want := make([]float32, g.OutLen())
			tensor.ConvForward(g, x, w, b, want)
			tensor.ActivationForward(tensor.ReLU, want, want)
			got := make([]float32, g.OutLen())
			if err := NewConvWeights(w, b).Forward(g, x, got, ReLU, F32); err != nil {
				t.Fatal(err)
			}
			var impl string
			if err := do(func() error {
				o, err := convIOOp(convIO{g: g, dt: F32, xT: F32, yT: F32, bias: bias, act: ReLU, wino: true})
				if err == nil {
					impl = o.impl
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			e := tensor.RelErr(got, want)
			t.Logf("%v bias=%v: %s, rel err %.2g", s, bias, impl, e)
			if ISA() != "avx2" && ISA() != "other" && !strings.Contains(impl, "wino") {
				t.Errorf("%v: kernel %q, want Winograd on %s", s, impl, ISA())
			}
			if e > 1e-5 {
				t.Errorf("%v bias=%v: rel err %g > 1e-5", s, bias, e)
			}
		}
	}
}

// addTo adds src to dst, for the expected value of gradients that are
// added to a buffer's contents.
func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
