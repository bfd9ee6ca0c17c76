package dnnl

import (
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

func TestDenseMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		n, in, out int
		act        Activation
	}{{4, 20, 6, Linear}, {32, 2048, 1024, ReLU}, {3, 7, 5, ReLU}} {
		for _, bias := range []bool{false, true} {
			x, w := randSlice(r, tc.n*tc.in), randSlice(r, tc.in*tc.out)
			var b []float32
			if bias {
				b = randSlice(r, tc.out)
			}
			want, got := make([]float32, tc.n*tc.out), make([]float32, tc.n*tc.out)
			tensor.DenseForward(tc.n, tc.in, tc.out, x, w, b, want)
			if tc.act == ReLU {
				tensor.ActivationForward(tensor.ReLU, want, want)
			}
			if err := DenseForward(tc.n, tc.in, tc.out, x, w, b, got, tc.act); err != nil {
				t.Fatal(err)
			}
			if e := tensor.RelErr(got, want); e > tol {
				t.Errorf("%v forward rel err %g", tc, e)
			}
			dy := randSlice(r, tc.n*tc.out)
			wdx, gdx := make([]float32, tc.n*tc.in), make([]float32, tc.n*tc.in)
			// The weight gradients are added to what the buffers hold.
			wdw, gdw := make([]float32, tc.in*tc.out), randSlice(r, tc.in*tc.out)
			var wdb, gdb []float32
			if bias {
				wdb, gdb = make([]float32, tc.out), randSlice(r, tc.out)
			}
			tensor.DenseBackward(tc.n, tc.in, tc.out, x, w, dy, wdx, wdw, wdb)
			addTo(wdw, gdw)
			addTo(wdb, gdb)
			if err := DenseBackward(tc.n, tc.in, tc.out, x, w, dy, gdx, gdw, gdb); err != nil {
				t.Fatal(err)
			}
			for _, p := range [][2][]float32{{gdx, wdx}, {gdw, wdw}, {gdb, wdb}} {
				if e := tensor.RelErr(p[0], p[1]); e > tol {
					t.Errorf("%v backward rel err %g", tc, e)
				}
			}
		}
	}
}
