package dnnl

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

// convShape is a named convolution geometry for benchmarks.
type convShape struct {
	name                     string
	n, h, w, c, f, kh, kw, s int
	pad                      string
}

// benchShapes are InceptionV3 layer shapes; the first is the reference 3x3 convolution.
var benchShapes = []convShape{
	{"3x3_35x35x288-288", 8, 35, 35, 288, 288, 3, 3, 1, tensor.Same},
	{"1x1_35x35x288-64", 8, 35, 35, 288, 64, 1, 1, 1, tensor.Same},
	{"1x7_17x17x160-160", 8, 17, 17, 160, 160, 1, 7, 1, tensor.Same},
	{"7x1_17x17x192-192", 8, 17, 17, 192, 192, 7, 1, 1, tensor.Same},
	{"3x3s2_35x35x288-384", 8, 35, 35, 288, 384, 3, 3, 2, tensor.Valid},
	{"1x3_8x8x384-384", 8, 8, 8, 384, 384, 1, 3, 1, tensor.Same},
	{"3x3_147x147x32-64", 8, 147, 147, 32, 64, 3, 3, 1, tensor.Same},
}

func BenchmarkConv(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range benchShapes {
		g, err := tensor.NewConvGeom(s.n, s.h, s.w, s.c, s.f, s.kh, s.kw, s.s, s.s, s.pad, 1)
		if err != nil {
			b.Fatal(err)
		}
		x, w := randSlice(r, g.InLen()), randSlice(r, g.WeightLen())
		y, dy := make([]float32, g.OutLen()), randSlice(r, g.OutLen())
		dx, dw := make([]float32, g.InLen()), make([]float32, g.WeightLen())
		b.Run("fwd/"+s.name, func(b *testing.B) {
			for b.Loop() {
				if err := ConvForward(g, x, w, nil, y, ReLU); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(g.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("fwdbwd/"+s.name, func(b *testing.B) {
			for b.Loop() {
				if err := ConvForward(g, x, w, nil, y, Linear); err != nil {
					b.Fatal(err)
				}
				if err := ConvBackwardData(g, dy, w, dx); err != nil {
					b.Fatal(err)
				}
				if err := ConvBackwardWeights(g, x, dy, dw, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(3*g.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
	h, m := Stats()
	fmt.Printf("primitive cache: %d hits, %d misses; ISA %s; oneDNN %s\n", h, m, ISA(), Version())
}

// BenchmarkConvBackwardWeights compares the weight gradients of
// InceptionV3's top blocks at 224 px (5x5, batch 32) and 299 px (8x8) as
// GEMMs (GEMMWeights, the default) and with oneDNN's backward-weights
// kernel plus the reorder that adds its blocked result to the Keras layout.
func BenchmarkConvBackwardWeights(b *testing.B) {
	defer func(v bool) { GEMMWeights = v }(GEMMWeights)
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []convShape{
		{"1x1_5x5x2048-448", 32, 5, 5, 2048, 448, 1, 1, 1, tensor.Same},
		{"1x1_5x5x1280-320", 32, 5, 5, 1280, 320, 1, 1, 1, tensor.Same},
		{"1x3_5x5x384-384", 32, 5, 5, 384, 384, 1, 3, 1, tensor.Same},
		{"3x1_5x5x384-384", 32, 5, 5, 384, 384, 3, 1, 1, tensor.Same},
		{"1x1_8x8x2048-448", 32, 8, 8, 2048, 448, 1, 1, 1, tensor.Same},
		{"1x3_8x8x384-384", 32, 8, 8, 384, 384, 1, 3, 1, tensor.Same},
	} {
		g, err := tensor.NewConvGeom(s.n, s.h, s.w, s.c, s.f, s.kh, s.kw, s.s, s.s, s.pad, 1)
		if err != nil {
			b.Fatal(err)
		}
		x, dy, dw := randSlice(r, g.InLen()), randSlice(r, g.OutLen()), make([]float32, g.WeightLen())
		for _, gemm := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/gemm=%v", s.name, gemm), func(b *testing.B) {
				GEMMWeights = gemm
				for b.Loop() {
					if err := ConvBackwardWeights(g, x, dy, dw, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(g.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
