package dnnl

import (
	"errors"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

func TestConvBF16CloseToFloat32(t *testing.T) {
	if !HasBF16() {
		t.Skip("no native bfloat16 on this CPU")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range convCases {
		g, _ := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, tc.s, tc.s, tc.pad, tc.groups)
		x, w, b := randSlice(r, g.InLen()), randSlice(r, g.WeightLen()), randSlice(r, g.F)
		want, got := make([]float32, g.OutLen()), make([]float32, g.OutLen())
		tensor.ConvForward(g, x, w, b, want)
		tensor.ActivationForward(tensor.ReLU, want, want)
		if err := ConvForwardBF16(g, x, w, b, got, ReLU); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(got, want); e > 2e-2 || e == 0 {
			t.Errorf("%v: bf16 rel err %g, want (0, 2e-2]", tc, e)
		}
	}
}

func BenchmarkConvBF16(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range benchShapes {
		g, _ := tensor.NewConvGeom(s.n, s.h, s.w, s.c, s.f, s.kh, s.kw, s.s, s.s, s.pad, 1)
		x, w := randSlice(r, g.InLen()), randSlice(r, g.WeightLen())
		y := make([]float32, g.OutLen())
		b.Run("fwd/"+s.name, func(b *testing.B) {
			for b.Loop() {
				if err := ConvForwardBF16(g, x, w, nil, y, ReLU); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(g.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestConvBackwardBF16CloseToFloat32: the bfloat16 backward convolutions
// agree with the Go reference within bfloat16's rounding, over every kernel
// shape (depthwise included), with and without the bias gradient.
func TestConvBackwardBF16CloseToFloat32(t *testing.T) {
	if !HasBF16() {
		t.Skip("no native bfloat16 on this CPU")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for _, tc := range convCases {
		g, _ := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, tc.s, tc.s, tc.pad, tc.groups)
		x, w, dy := randSlice(r, g.InLen()), randSlice(r, g.WeightLen()), randSlice(r, g.OutLen())
		wantDx, gotDx := make([]float32, g.InLen()), make([]float32, g.InLen())
		tensor.ConvBackwardData(g, dy, w, wantDx)
		if err := ConvBackwardDataBF16(g, dy, w, gotDx); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(gotDx, wantDx); e > 2e-2 || e == 0 {
			t.Errorf("%v: backward data rel err %g, want (0, 2e-2]", tc, e)
		}
		for _, bias := range []bool{false, true} {
			ew, eb := backwardWeightsErr(t, r, g, x, dy, bias, ConvBackwardWeightsBF16)
			if ew > 2e-2 || ew == 0 {
				t.Errorf("%v: backward weights rel err %g, want (0, 2e-2]", tc, ew)
			}
			if bias && eb > 2e-2 {
				t.Errorf("%v: bias gradient rel err %g", tc, eb)
			}
		}
	}
	g, _ := tensor.NewConvGeom(1, 4, 4, 2, 2, 3, 3, 1, 1, tensor.Same, 1)
	if err := ConvBackwardDataBF16(g, make([]float32, 3), make([]float32, g.WeightLen()), make([]float32, g.InLen())); err == nil {
		t.Error("short dy accepted")
	}
	if err := ConvBackwardWeightsBF16(g, make([]float32, g.InLen()), make([]float32, g.OutLen()), make([]float32, g.WeightLen()), make([]float32, 1)); err == nil {
		t.Error("short bias gradient accepted")
	}
}

// trainShapes are the convolutions stage two trains with the tuned recipe:
// mixed8-mixed10 at 299 px, batch 32.
var trainShapes = []convShape{
	{"1x1_17x17x768-192", 32, 17, 17, 768, 192, 1, 1, 1, tensor.Same},
	{"3x3s2_17x17x192-320", 32, 17, 17, 192, 320, 3, 3, 2, tensor.Valid},
	{"7x1_17x17x192-192", 32, 17, 17, 192, 192, 7, 1, 1, tensor.Same},
	{"1x1_8x8x1280-448", 32, 8, 8, 1280, 448, 1, 1, 1, tensor.Same},
	{"3x3_8x8x448-384", 32, 8, 8, 448, 384, 3, 3, 1, tensor.Same},
	{"1x3_8x8x384-384", 32, 8, 8, 384, 384, 1, 3, 1, tensor.Same},
	{"1x1_8x8x2048-320", 32, 8, 8, 2048, 320, 1, 1, 1, tensor.Same},
}

// BenchmarkConvTrain: one training step's convolutions (forward, backward
// data, backward weights) in float32 and in bfloat16.
func BenchmarkConvTrain(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range trainShapes {
		g, _ := tensor.NewConvGeom(s.n, s.h, s.w, s.c, s.f, s.kh, s.kw, s.s, s.s, s.pad, 1)
		x, w, dy := randSlice(r, g.InLen()), randSlice(r, g.WeightLen()), randSlice(r, g.OutLen())
		y, dx, dw := make([]float32, g.OutLen()), make([]float32, g.InLen()), make([]float32, g.WeightLen())
		for _, dt := range []DataType{F32, BF16} {
			if dt == BF16 && !HasBF16() {
				continue
			}
			b.Run(dt.String()+"/"+s.name, func(b *testing.B) {
				for b.Loop() {
					var err error
					if dt == BF16 {
						err = errors.Join(ConvForwardBF16(g, x, w, nil, y, Linear), ConvBackwardDataBF16(g, dy, w, dx), ConvBackwardWeightsBF16(g, x, dy, dw, nil))
					} else {
						err = errors.Join(ConvForward(g, x, w, nil, y, Linear), ConvBackwardData(g, dy, w, dx), ConvBackwardWeights(g, x, dy, dw, nil))
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(3*g.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
