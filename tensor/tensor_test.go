package tensor

import (
	"math"
	"testing"
)

func TestSamePadMatchesTensorFlow(t *testing.T) {
	cases := []struct{ in, k, s, out, before, after int }{
		{299, 3, 2, 150, 1, 1},
		{224, 3, 2, 112, 0, 1},
		{35, 3, 1, 35, 1, 1},
		{17, 7, 1, 17, 3, 3},
		{8, 1, 1, 8, 0, 0},
		{5, 3, 2, 3, 1, 1},
	}
	for _, c := range cases {
		out, b, a := SamePad(c.in, c.k, c.s)
		if out != c.out || b != c.before || a != c.after {
			t.Errorf("SamePad(%d,%d,%d) = %d,%d,%d; want %d,%d,%d", c.in, c.k, c.s, out, b, a, c.out, c.before, c.after)
		}
	}
}

func TestConvGeomErrors(t *testing.T) {
	for _, c := range []struct {
		h, c, f, k, groups int
		pad                string
	}{
		{2, 3, 4, 3, 1, Valid}, // window larger than input
		{8, 3, 4, 3, 2, Same},  // channels do not split into groups
		{8, 3, 4, 3, 1, "full"},
	} {
		if _, err := NewConvGeom(1, c.h, c.h, c.c, c.f, c.k, c.k, 1, 1, c.pad, c.groups); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	g, err := NewConvGeom(2, 299, 299, 3, 32, 3, 3, 2, 2, Valid, 1)
	if err != nil || g.OH != 149 || g.OutLen() != 2*149*149*32 || g.WeightLen() != 864 {
		t.Errorf("conv2d_1 geometry %+v %v", g, err)
	}
}

func TestSoftmaxAndArgmax(t *testing.T) {
	y := make([]float32, 6)
	Softmax(3, []float32{1, 2, 3, 1000, 0, -1000}, y)
	if Argmax(y[:3]) != 2 || Argmax(y[3:]) != 0 || y[3] != 1 {
		t.Errorf("softmax %v", y)
	}
	var s float32
	for _, v := range y[:3] {
		s += v
	}
	if s < 0.9999 || s > 1.0001 {
		t.Errorf("row sums to %g", s)
	}
}

func TestBroadcast(t *testing.T) {
	if _, err := BroadcastShape([]int{2, 3}, []int{2, 1, 3}); err == nil {
		t.Error("ranks differ: no error")
	}
	if _, err := BroadcastShape([]int{2, 3}, []int{2, 2}); err == nil {
		t.Error("3 and 2: no error")
	}
	// [2,2,3] * [2,1,3]: b repeats along the middle axis.
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	b := []float32{1, 10, 100, -1, -2, -3}
	out, err := BroadcastShape([]int{2, 2, 3}, []int{2, 1, 3})
	if err != nil || !SameShape(out, []int{2, 2, 3}) {
		t.Fatal(out, err)
	}
	y := make([]float32, 12)
	MulBroadcast(out, []int{2, 2, 3}, []int{2, 1, 3}, a, b, y)
	want := []float32{1, 20, 300, 4, 50, 600, -7, -16, -27, -10, -22, -36}
	if RelErr(y, want) != 0 {
		t.Errorf("MulBroadcast %v, want %v", y, want)
	}
	s := make([]float32, 6)
	SumTo(out, []int{2, 1, 3}, a, s)
	if RelErr(s, []float32{5, 7, 9, 17, 19, 21}) != 0 {
		t.Errorf("SumTo %v", s)
	}
	ChannelAffine(3, a[:6], []float32{1, 2, 3}, []float32{0, 1, -1}, y)
	if RelErr(y[:6], []float32{1, 5, 8, 4, 11, 17}) != 0 {
		t.Errorf("ChannelAffine %v", y[:6])
	}
}

func TestSwishAndSigmoid(t *testing.T) {
	x := []float32{-3, -0.5, 0, 0.5, 3}
	y, s := make([]float32, 5), make([]float32, 5)
	ActivationForward(Swish, x, y)
	ActivationForward(Sigmoid, x, s)
	for i, v := range x {
		sg := 1 / (1 + math.Exp(-float64(v)))
		if math.Abs(float64(s[i])-sg) > 1e-6 || math.Abs(float64(y[i])-float64(v)*sg) > 1e-6 {
			t.Errorf("x=%g: sigmoid %g swish %g", v, s[i], y[i])
		}
	}
	// Derivatives by central differences.
	dy := []float32{1, 1, 1, 1, 1}
	dSw, dSg := make([]float32, 5), make([]float32, 5)
	SwishBackward(x, dy, dSw)
	ActivationBackward(Sigmoid, s, dy, dSg)
	for i, v := range x {
		const h = 1e-3
		f := func(kind int, v float32) float64 {
			o := make([]float32, 1)
			ActivationForward(kind, []float32{v}, o)
			return float64(o[0])
		}
		for _, c := range []struct {
			kind int
			got  float32
		}{{Swish, dSw[i]}, {Sigmoid, dSg[i]}} {
			num := (f(c.kind, v+h) - f(c.kind, v-h)) / (2 * h)
			if math.Abs(num-float64(c.got)) > 1e-3 {
				t.Errorf("kind %d at %g: derivative %g, numeric %g", c.kind, v, c.got, num)
			}
		}
	}
}
