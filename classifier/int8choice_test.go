package classifier

import (
	"math/rand/v2"
	"testing"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// ChooseInt8MaxErr keeps the first bound whose agreement is high enough,
// else the last one tried, stores it in the metadata and leaves the
// model's own settings as they were.
func TestChooseInt8MaxErr(t *testing.T) {
	if !dnnl.HasInt8() {
		t.Skip("no int8 kernels for this CPU: int8 runs in float32 here")
	}
	c := small(t)
	r := rand.New(rand.NewPCG(4, 5))
	raw := func(n int) *tensor.Tensor {
		x := tensor.New(n, 64, 64, 3)
		for i := range x.Data {
			x.Data[i] = 255 * r.Float32()
		}
		return x
	}
	if _, _, err := c.ChooseInt8MaxErr(raw(2), Int8Bounds, 0.99, 8); err == nil {
		t.Error("an uncalibrated model was checked")
	}
	if err := c.CalibrateInt8(raw(8)); err != nil {
		t.Fatal(err)
	}
	if err := c.TuneInt8(raw(4)); err != nil {
		t.Fatal(err)
	}
	x := raw(12)
	before := x.Clone()
	for _, tc := range []struct {
		minAgree float64
		want     float32
		checks   int
	}{
		{0, 1, 1},       // the first bound always agrees on at least 0%
		{1.01, 0.01, 4}, // no bound can: every one is tried, the last kept
	} {
		got, checks, err := c.ChooseInt8MaxErr(x, Int8Bounds, tc.minAgree, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || c.Meta.Int8MaxErr != tc.want || len(checks) != tc.checks {
			t.Errorf("min agreement %g: chose %g (meta %g) after %d checks, want %g after %d", tc.minAgree, got, c.Meta.Int8MaxErr, len(checks), tc.want, tc.checks)
		}
		for i, k := range checks {
			if k.MaxErr != Int8Bounds[i] || k.Images != 12 || k.Agree < 0 || k.Agree > 12 || k.Calibrated == 0 {
				t.Errorf("check %d: %+v", i, k)
			}
		}
		if last := checks[len(checks)-1]; tc.minAgree == 0 && last.Layers != last.Calibrated {
			t.Errorf("bound 1 ran %d of %d convolutions in int8, want all", last.Layers, last.Calibrated)
		}
	}
	if c.Model.Int8 || c.Model.Int8MaxErr != 0 {
		t.Errorf("model left with Int8 %v, bound %g", c.Model.Int8, c.Model.Int8MaxErr)
	}
	if !tensor.SameShape(x.Shape, before.Shape) || tensor.RelErr(x.Data, before.Data) != 0 {
		t.Error("the images were modified")
	}
}
