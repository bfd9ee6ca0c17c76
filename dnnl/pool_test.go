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
		for _, alg := range []PoolAlg{MaxPool, AvgPool} {
			t.Run(fmt.Sprintf("%v/alg=%d", tc, alg), func(t *testing.T) {
				g, err := tensor.NewConvGeom(2, tc.h, tc.w, tc.c, tc.c, tc.k, tc.k, tc.s, tc.s, tc.pad, tc.c)
				if err != nil {
					t.Fatal(err)
				}
				x := randSlice(r, g.InLen())
				want, got := make([]float32, g.OutLen()), make([]float32, g.OutLen())
				tensor.PoolForward(int(alg), g, x, want)
				if err := PoolForward(alg, g, x, got, nil); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(got, want); e > tol {
					t.Errorf("forward inference rel err %g", e)
				}
				n, err := PoolWorkspaceLen(alg, g)
				if err != nil {
					t.Fatal(err)
				}
				ws := make([]byte, n)
				clear(got)
				if err := PoolForward(alg, g, x, got, ws); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(got, want); e > tol {
					t.Errorf("forward training rel err %g", e)
				}
				dy := randSlice(r, g.OutLen())
				wantDx, gotDx := make([]float32, g.InLen()), make([]float32, g.InLen())
				tensor.PoolBackward(int(alg), g, x, dy, wantDx)
				if err := PoolBackward(alg, g, dy, gotDx, ws); err != nil {
					t.Fatal(err)
				}
				if e := tensor.RelErr(gotDx, wantDx); e > tol {
					t.Errorf("backward rel err %g", e)
				}
			})
		}
	}
}
