package classifier

import (
	"math"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

// PredictOutputs' probabilities are PredictViews' (one size and two), and
// its logits are theirs up to a constant per row.
func TestPredictOutputsAgreesWithPredictViews(t *testing.T) {
	for _, sizes := range [][]int{nil, {64, 96}} {
		c := small(t)
		if sizes != nil {
			if err := c.SetTestSizes(sizes); err != nil {
				t.Fatal(err)
			}
		}
		r := rand.New(rand.NewPCG(3, 4))
		v := Views{}
		for _, s := range c.InputSizes() {
			x := tensor.New(2, s, s, 3)
			for i := range x.Data {
				x.Data[i] = float32(r.IntN(256))
			}
			v[s] = x
		}
		p, err := c.PredictViews(v)
		if err != nil {
			t.Fatal(err)
		}
		o, err := c.PredictOutputs(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Features.Shape; len(got) != 2 || got[0] != 2 {
			t.Fatalf("features shape %v", got)
		}
		k := len(c.Meta.Classes)
		for i := range p.Data {
			if math.Abs(float64(p.Data[i]-o.Probs.Data[i])) > 1e-5 {
				t.Fatalf("sizes %v: prob %d: %g from PredictViews, %g from PredictOutputs", sizes, i, p.Data[i], o.Probs.Data[i])
			}
		}
		for r := 0; r < 2; r++ {
			d0 := float64(o.Logits.Data[r*k]) - math.Log(float64(p.Data[r*k]))
			for j := 1; j < k; j++ {
				d := float64(o.Logits.Data[r*k+j]) - math.Log(float64(p.Data[r*k+j]))
				if math.Abs(d-d0) > 1e-4 {
					t.Fatalf("logits minus log-probabilities differ across classes: %g, %g", d0, d)
				}
			}
		}
	}
}
