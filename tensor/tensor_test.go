package tensor

import "testing"

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
