package dnnl

import (
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
