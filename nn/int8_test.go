package nn

import (
	"math/rand/v2"
	"testing"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// convBNNet is input -> Conv2D -> BatchNormalization -> ReLU -> Conv2D ->
// BatchNormalization -> ReLU: two fused chains that can run in int8.
func convBNNet(t *testing.T) *Model {
	t.Helper()
	g := NewGraph()
	x := g.Input(NewInput("input", 8, 8, 16))
	x = g.Apply(NewConv2D("conv_a", 32, 3, 3, 1, 1, "same", false), x)
	x = g.Apply(NewBatchNormalization("bn_a"), x)
	x = g.Apply(NewActivation("relu_a", "relu"), x)
	x = g.Apply(NewConv2D("conv_b", 16, 1, 1, 1, 1, "same", false), x)
	x = g.Apply(NewBatchNormalization("bn_b"), x)
	x = g.Apply(NewActivation("relu_b", "relu"), x)
	m, err := g.Build(x)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(5)
	return m
}

// TestTuneInt8: TuneInt8 needs ranges first; afterwards each layer's clip
// is one of clipRatios and its error is no larger than at the full range
// measured on the same batch.
func TestTuneInt8(t *testing.T) {
	if !dnnl.HasInt8() {
		t.Skip("no int8 kernels for this CPU: int8 convolutions fall back to float32 here")
	}
	m := convBNNet(t)
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(4, 8, 8, 16)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
		if i%211 == 0 {
			x.Data[i] *= 20 // rare large inputs
		}
	}
	if err := m.TuneInt8(x); err == nil {
		t.Fatal("tuning before calibration accepted")
	}
	if err := m.CalibrateInt8(x); err != nil {
		t.Fatal(err)
	}
	before := m.Int8Ranges()
	if err := m.TuneInt8(x); err != nil {
		t.Fatal(err)
	}
	after := m.Int8Ranges()
	if len(after) != 2 {
		t.Fatalf("ranges for %d convolutions, want 2", len(after))
	}
	for name, a := range after {
		b := before[name]
		if a.Max != b.Max || a.Signed != b.Signed {
			t.Errorf("%s: tuning changed the range %+v -> %+v", name, b, a)
		}
		ok := a.Clip == 0
		for _, c := range clipRatios {
			ok = ok || a.Clip == c
		}
		if !ok || a.Clip == 1 {
			t.Errorf("%s: clip %v is not one of %v (1 is stored as 0)", name, a.Clip, clipRatios)
		}
		if a.Err > b.Err*(1+1e-6) {
			t.Errorf("%s: tuned error %g above the full range's %g on the same batch", name, a.Err, b.Err)
		}
		t.Logf("%s: max %.3f clip %.2f err %.4f (full range %.4f)", name, a.Max, a.Clip, a.Err, b.Err)
	}
}
