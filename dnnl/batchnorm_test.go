package dnnl

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

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
