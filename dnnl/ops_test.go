package dnnl

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

func TestPoolMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		h, w, c, k, s int
		pad           string
	}{
		{9, 9, 8, 3, 2, tensor.Valid},
		{9, 9, 8, 3, 1, tensor.Same},
		{10, 10, 4, 3, 2, tensor.Same},
		{8, 8, 16, 2, 2, tensor.Valid},
		{35, 35, 8, 3, 1, tensor.Same},
	}
	for _, tc := range cases {
		for _, kind := range []int{tensor.MaxPool, tensor.AvgPool} {
			t.Run(fmt.Sprintf("%v/kind=%d", tc, kind), func(t *testing.T) {
				g, err := tensor.NewConvGeom(2, tc.h, tc.w, tc.c, tc.c, tc.k, tc.k, tc.s, tc.s, tc.pad, tc.c)
				if err != nil {
					t.Fatal(err)
				}
				x := randSlice(r, g.InLen())
				want, got := make([]float32, g.OutLen()), make([]float32, g.OutLen())
				tensor.PoolForward(kind, g, x, want)
				if err := PoolForward(kind, g, x, got, nil); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(got, want); e > tol {
					t.Errorf("forward inference rel err %g", e)
				}
				n, err := PoolWorkspaceLen(kind, g)
				if err != nil {
					t.Fatal(err)
				}
				ws := make([]byte, n)
				clear(got)
				if err := PoolForward(kind, g, x, got, ws); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(got, want); e > tol {
					t.Errorf("forward training rel err %g", e)
				}
				dy := randSlice(r, g.OutLen())
				wantDx, gotDx := make([]float32, g.InLen()), make([]float32, g.InLen())
				tensor.PoolBackward(kind, g, x, dy, wantDx)
				if err := PoolBackward(kind, g, dy, gotDx, ws); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(gotDx, wantDx); e > tol {
					t.Errorf("backward rel err %g", e)
				}
			})
		}
	}
}

func TestActivationMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, kind := range []int{tensor.ReLU, tensor.ReLU6} {
		x := randSlice(r, 1000)
		for i := range x {
			x[i] *= 5
		}
		x[0], x[1], x[2] = 0, 6, -0 // the kinks
		want, got := make([]float32, len(x)), make([]float32, len(x))
		tensor.ActivationForward(kind, x, want)
		if err := ActivationForward(kind, x, got); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(got, want); e > 0 {
			t.Errorf("kind %d forward rel err %g", kind, e)
		}
		dy := randSlice(r, len(x))
		wantDx, gotDx := make([]float32, len(x)), make([]float32, len(x))
		tensor.ActivationBackward(kind, want, dy, wantDx)
		if err := ActivationBackward(kind, want, dy, gotDx); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(gotDx, wantDx); e > 0 {
			t.Errorf("kind %d backward rel err %g", kind, e)
		}
	}
}

func TestBatchNormMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, scale := range []bool{false, true} {
		for _, shift := range []bool{false, true} {
			t.Run(fmt.Sprintf("scale=%v/shift=%v", scale, shift), func(t *testing.T) {
				rows, c, eps := 2*7*7, 24, float32(1e-3)
				x := randSlice(r, rows*c)
				for i := range x {
					x[i] = x[i]*3 + 1
				}
				var gamma, beta []float32
				if scale {
					gamma = randSlice(r, c)
				}
				if shift {
					beta = randSlice(r, c)
				}
				mean, variance := randSlice(r, c), randSlice(r, c)
				for i := range variance {
					variance[i] = variance[i]*variance[i] + 0.1
				}
				want, got := make([]float32, rows*c), make([]float32, rows*c)
				tensor.BatchNormInference(c, x, gamma, beta, mean, variance, eps, want)
				if err := BatchNormInference(rows, c, x, gamma, beta, mean, variance, eps, got); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(got, want); e > tol {
					t.Errorf("inference rel err %g", e)
				}
				bm, bv := make([]float32, c), make([]float32, c)
				gm, gv := make([]float32, c), make([]float32, c)
				tensor.BatchNormTraining(c, x, gamma, beta, eps, want, bm, bv)
				if err := BatchNormTraining(rows, c, x, gamma, beta, eps, got, gm, gv); err != nil {
					t.Fatal(err)
				}
				for _, p := range [][2][]float32{{got, want}, {gm, bm}, {gv, bv}} {
					if e := tensor.RelErr(p[0], p[1]); e > tol {
						t.Errorf("training rel err %g", e)
					}
				}
				dy := randSlice(r, rows*c)
				wdx, gdx := make([]float32, rows*c), make([]float32, rows*c)
				var wdg, gdg, wdb, gdb []float32
				if scale {
					wdg, gdg = make([]float32, c), make([]float32, c)
				}
				if shift {
					wdb, gdb = make([]float32, c), make([]float32, c)
				}
				tensor.BatchNormBackward(c, x, dy, gamma, bm, bv, eps, wdx, wdg, wdb)
				if err := BatchNormBackward(rows, c, x, dy, gamma, bm, bv, eps, shift, gdx, gdg, gdb); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(gdx, wdx); e > tol {
					t.Errorf("backward dx rel err %g", e)
				}
				if scale {
					if e := tensor.RelErr(gdg, wdg); e > tol {
						t.Errorf("backward dgamma rel err %g", e)
					}
				}
				if shift {
					if e := tensor.RelErr(gdb, wdb); e > tol {
						t.Errorf("backward dbeta rel err %g", e)
					}
				}
			})
		}
	}
}

func TestDenseMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct{ n, in, out, act int }{{4, 20, 6, 0}, {32, 2048, 1024, 1}, {3, 7, 5, 1}} {
		for _, bias := range []bool{false, true} {
			x, w := randSlice(r, tc.n*tc.in), randSlice(r, tc.in*tc.out)
			var b []float32
			if bias {
				b = randSlice(r, tc.out)
			}
			want, got := make([]float32, tc.n*tc.out), make([]float32, tc.n*tc.out)
			tensor.DenseForward(tc.n, tc.in, tc.out, x, w, b, want)
			if tc.act == 1 {
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
			wdw, gdw := make([]float32, tc.in*tc.out), make([]float32, tc.in*tc.out)
			var wdb, gdb []float32
			if bias {
				wdb, gdb = make([]float32, tc.out), make([]float32, tc.out)
			}
			tensor.DenseBackward(tc.n, tc.in, tc.out, x, w, dy, wdx, wdw, wdb)
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

func TestConcatMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	rows := 2 * 5 * 5
	widths := []int{64, 96, 32, 8}
	var parts [][]float32
	total := 0
	for _, w := range widths {
		parts = append(parts, randSlice(r, rows*w))
		total += w
	}
	want, got := make([]float32, rows*total), make([]float32, rows*total)
	tensor.Concat(rows, widths, parts, want)
	if err := Concat(rows, widths, parts, got); err != nil {
		t.Fatal(err)
	}
	if e := tensor.RelErr(got, want); e != 0 {
		t.Errorf("concat rel err %g", e)
	}
	if err := Concat(rows, widths, parts[:3], got); err == nil {
		t.Error("want error for mismatched parts")
	}
}
