package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// inceptionNet is a small InceptionV3-style block: a stem chain, three
// branches (a 1x1 chain, max pooling then a chain, average pooling), their
// concatenation, and a strided chain as the output.
func inceptionNet(t *testing.T) *Model {
	t.Helper()
	g := NewGraph()
	chain := func(name string, x Node, f, k, s int, pad string) Node {
		x = g.Apply(NewConv2D(name+"_conv", f, k, k, s, s, pad, false), x)
		x = g.Apply(NewBatchNormalization(name+"_bn"), x)
		return g.Apply(NewActivation(name+"_relu", "relu"), x)
	}
	in := g.Input(NewInput("input", 9, 9, 16))
	stem := chain("stem", in, 32, 3, 1, "same")
	b1 := chain("b1", stem, 16, 1, 1, "same")
	p2 := g.Apply(NewMaxPooling2D("b2_pool", 3, 3, 1, 1, "same"), stem)
	b2 := chain("b2", p2, 16, 1, 1, "same")
	b3 := g.Apply(NewAveragePooling2D("b3_pool", 3, 3, 1, 1, "same"), stem)
	cat := g.Apply(NewConcatenate("mixed"), b1, b2, b3)
	out := chain("out", cat, 32, 3, 2, "valid")
	m, err := g.Build(out)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(7)
	return m
}

func randImages(seed uint64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

// TestLowPrecisionPlan: in bfloat16 and int8 inference the block's inner
// activations are kept in that type (the concatenation's parts and a
// pooling's input and output sharing one u8 scale), the requested output
// stays float32, and the result stays within the precision's error of
// float32 and of the same precision with float32 activations.
func TestLowPrecisionPlan(t *testing.T) {
	x := randImages(3, 4, 9, 9, 16)
	for _, dt := range []dnnl.DataType{dnnl.BF16, dnnl.U8} {
		t.Run(dt.String(), func(t *testing.T) {
			if dt == dnnl.BF16 && !dnnl.HasBF16() || dt == dnnl.U8 && !dnnl.HasVNNI() {
				t.Skipf("no %v activations between layers on this CPU", dt)
			}
			m := inceptionNet(t)
			want, err := m.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			tol := 2e-2
			if dt == dnnl.U8 {
				if err := m.CalibrateInt8(x); err != nil {
					t.Fatal(err)
				}
				m.Int8, m.Int8MaxErr, tol = true, 1, 6e-2
			} else {
				m.BF16 = true
			}
			// The plan of a whole-model pass.
			r := &run{needed: make([]bool, len(m.Layers)), fed: make([]bool, len(m.Layers)), done: make([]bool, len(m.Layers)), reqGrad: make([]bool, len(m.Layers))}
			for i := range r.needed {
				r.needed[i] = true
			}
			r.fed[m.Inputs[0]] = true
			wantOut := make([]bool, len(m.Layers))
			wantOut[m.Output] = true
			spec := m.planLow(r, false, wantOut)
			low := []string{"stem_relu", "b1_relu", "b2_pool", "b2_relu", "b3_pool", "mixed"}
			for _, name := range low {
				if s := spec[m.Index(name)]; s.dt != dt {
					t.Errorf("%s stored as %v, want %v", name, s.dt, dt)
				}
			}
			if s := spec[m.Output]; s.dt != dnnl.F32 {
				t.Errorf("the output is stored as %v, want float32", s.dt)
			}
			if dt == dnnl.U8 {
				mixed := spec[m.Index("mixed")].scale
				for _, name := range []string{"b1_relu", "b2_pool", "b2_relu", "b3_pool"} {
					if s := spec[m.Index(name)].scale; s != mixed {
						t.Errorf("%s has scale %g, the concatenation %g", name, s, mixed)
					}
				}
				if spec[m.Index("stem_relu")].scale != mixed {
					t.Errorf("the stem feeds the average pooling in the concatenation: scale %g, want %g", spec[m.Index("stem_relu")].scale, mixed)
				}
			}
			got, err := m.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			m.allFloat32 = true
			perLayer, err := m.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			e, e2 := tensor.RelErr(got.Data, want.Data), tensor.RelErr(got.Data, perLayer.Data)
			t.Logf("%v activations: rel err %.3g against float32, %.3g against float32 activations", dt, e, e2)
			if e > tol || e2 > tol || e2 == 0 || math.IsNaN(e) {
				t.Errorf("rel err %g against float32 and %g against float32 activations, want (0, %g]", e, e2, tol)
			}
		})
	}
}
