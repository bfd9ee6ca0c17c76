package dnnl

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

func TestMulBroadcastAndSumToMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct{ a, b []int }{
		{[]int{2, 7, 7, 16}, []int{2, 1, 1, 16}}, // squeeze-and-excitation
		{[]int{3, 5}, []int{3, 5}},
		{[]int{2, 4, 4, 8}, []int{1, 4, 4, 1}},
		{[]int{1, 112, 112, 32}, []int{1, 1, 1, 32}},
	} {
		t.Run(fmt.Sprint(tc.a, tc.b), func(t *testing.T) {
			a, b := randSlice(r, tensor.Numel(tc.a)), randSlice(r, tensor.Numel(tc.b))
			want, got := make([]float32, len(a)), make([]float32, len(a))
			tensor.MulBroadcast(tc.a, tc.a, tc.b, a, b, want)
			if err := MulBroadcast(tc.a, tc.b, a, b, got); err != nil {
				t.Fatal(err)
			}
			if e := tensor.RelErr(got, want); e > tol {
				t.Errorf("multiply rel err %g", e)
			}
			ws, gs := make([]float32, len(b)), make([]float32, len(b))
			tensor.SumTo(tc.a, tc.b, a, ws)
			if err := SumTo(tc.a, tc.b, a, gs); err != nil {
				t.Fatal(err)
			}
			if e := tensor.RelErr(gs, ws); e > tol {
				t.Errorf("sum rel err %g", e)
			}
		})
	}
	if err := MulBroadcast([]int{2, 3}, []int{2, 2}, make([]float32, 6), make([]float32, 4), make([]float32, 6)); err == nil {
		t.Error("shapes that do not broadcast: no error")
	}
	if err := SumTo([]int{2, 3}, []int{1, 3}, make([]float32, 5), make([]float32, 3)); err == nil {
		t.Error("short input: no error")
	}
}

func TestChannelAffineMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, shift := range []bool{false, true} {
		rows, c := 2*9*9, 3
		x, scale := randSlice(r, rows*c), randSlice(r, c)
		var sh []float32
		if shift {
			sh = randSlice(r, c)
		}
		want, got := make([]float32, rows*c), make([]float32, rows*c)
		tensor.ChannelAffine(c, x, scale, sh, want)
		if err := ChannelAffine(rows, c, x, scale, sh, got); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(got, want); e > tol {
			t.Errorf("shift %v: rel err %g", shift, e)
		}
	}
	if err := ChannelAffine(4, 3, make([]float32, 12), make([]float32, 2), nil, make([]float32, 12)); err == nil {
		t.Error("short scale: no error")
	}
}

func TestSigmoidAndSwishMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x := randSlice(r, 1000)
	for i := range x {
		x[i] *= 4
	}
	dy := randSlice(r, len(x))
	for _, act := range []Activation{Sigmoid, Swish} {
		want, got := make([]float32, len(x)), make([]float32, len(x))
		tensor.ActivationForward(int(act), x, want)
		if err := ActivationForward(act, x, got); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(got, want); e > tol {
			t.Errorf("%v forward rel err %g", act, e)
		}
		wdx, gdx := make([]float32, len(x)), make([]float32, len(x))
		if act == Swish {
			tensor.SwishBackward(x, dy, wdx)
			if err := ActivationBackwardFromInput(act, x, dy, gdx); err != nil {
				t.Fatal(err)
			}
			if err := ActivationBackward(act, want, dy, gdx[:0]); err == nil {
				t.Error("swish backward from the output: no error")
			}
		} else {
			tensor.ActivationBackward(int(act), want, dy, wdx)
			if err := ActivationBackward(act, want, dy, gdx); err != nil {
				t.Fatal(err)
			}
		}
		if e := tensor.RelErr(gdx, wdx); e > tol {
			t.Errorf("%v backward rel err %g", act, e)
		}
	}
}
