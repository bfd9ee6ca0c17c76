package dnnl

import (
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

func TestActivationMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, act := range []Activation{ReLU, ReLU6} {
		x := randSlice(r, 1000)
		for i := range x {
			x[i] *= 5
		}
		x[0], x[1], x[2] = 0, 6, -0 // the kinks
		want, got := make([]float32, len(x)), make([]float32, len(x))
		tensor.ActivationForward(int(act), x, want)
		if err := ActivationForward(act, x, got); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(got, want); e > 0 {
			t.Errorf("%v forward rel err %g", act, e)
		}
		dy := randSlice(r, len(x))
		wantDx, gotDx := make([]float32, len(x)), make([]float32, len(x))
		tensor.ActivationBackward(int(act), want, dy, wantDx)
		if err := ActivationBackward(act, want, dy, gotDx); err != nil {
			t.Fatal(err)
		}
		if e := tensor.RelErr(gotDx, wantDx); e > 0 {
			t.Errorf("%v backward rel err %g", act, e)
		}
	}
}
