package calibrate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// overconfident draws n images whose model probabilities are softmax(z)
// while the labels follow softmax(z/trueT): a model overconfident by trueT.
func overconfident(n, k int, trueT float64, seed uint64) ([]float32, []int) {
	r := rand.New(rand.NewPCG(seed, 1))
	probs := make([]float32, n*k)
	labels := make([]int, n)
	z := make([]float64, k)
	for i := range labels {
		for j := range z {
			z[j] = 4 * r.NormFloat64()
		}
		sm := func(T float64) []float64 {
			out := make([]float64, k)
			var s float64
			for j, v := range z {
				out[j] = math.Exp(v / T)
				s += out[j]
			}
			for j := range out {
				out[j] /= s
			}
			return out
		}
		for j, v := range sm(1) {
			probs[i*k+j] = float32(v)
		}
		u, acc := r.Float64(), 0.0
		for j, v := range sm(trueT) {
			acc += v
			if u < acc || j == k-1 {
				labels[i] = j
				break
			}
		}
	}
	return probs, labels
}

func TestFitTemperatureRecoversOverconfidence(t *testing.T) {
	for _, trueT := range []float64{0.5, 1, 2.5} {
		probs, labels := overconfident(4000, 6, trueT, 7)
		T, err := FitTemperature(probs, labels, 6)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(T-trueT)/trueT > 0.1 {
			t.Errorf("true temperature %g: fitted %g", trueT, T)
		}
		before, after := ECE(probs, labels, 6), ECE(Scale(probs, 6, T), labels, 6)
		if trueT != 1 && after >= before {
			t.Errorf("true temperature %g: ECE %.4f before, %.4f after", trueT, before, after)
		}
		if after > 0.03 {
			t.Errorf("true temperature %g: ECE after scaling %.4f, want < 0.03", trueT, after)
		}
	}
}

func TestScale(t *testing.T) {
	p := []float32{0.7, 0.2, 0.1, 0.25, 0.25, 0.5}
	same := Scale(p, 3, 1)
	for i := range p {
		if math.Abs(float64(same[i]-p[i])) > 1e-6 {
			t.Fatalf("T=1 changed %v to %v", p, same)
		}
	}
	soft := Scale(p, 3, 2)
	if !(soft[0] < p[0] && soft[2] > p[2]) {
		t.Errorf("T=2 should soften %v, got %v", p[:3], soft[:3])
	}
	// softmax(log p / 2) of (0.7, 0.2, 0.1) is sqrt(p)/sum(sqrt(p)).
	s := math.Sqrt(0.7) + math.Sqrt(0.2) + math.Sqrt(0.1)
	if math.Abs(float64(soft[0])-math.Sqrt(0.7)/s) > 1e-6 {
		t.Errorf("T=2: got %v, want %v", soft[0], math.Sqrt(0.7)/s)
	}
	zero := Scale([]float32{1, 0}, 2, 3)
	if math.IsNaN(float64(zero[0])) || zero[0] < 0.999 {
		t.Errorf("a zero probability must stay finite: %v", zero)
	}
}

func TestECE(t *testing.T) {
	cases := []struct {
		name   string
		probs  []float32
		labels []int
		want   float64
	}{
		{"all right at 100%", []float32{1, 0, 0, 1}, []int{0, 1}, 0},
		{"all wrong at 100%", []float32{1, 0, 0, 1}, []int{1, 0}, 1},
		{"half right at 60%", []float32{0.6, 0.4, 0.6, 0.4}, []int{0, 1}, 0.1},
	}
	for _, c := range cases {
		if got := ECE(c.probs, c.labels, 2); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: ECE %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRiskCoverageAndThreshold(t *testing.T) {
	// Confidences 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right).
	probs := []float32{0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4}
	labels := []int{0, 0, 1, 0}
	pts := RiskCoverage(probs, labels, 2)
	want := []Point{{0.9, 0.25, 1}, {0.8, 0.5, 1}, {0.7, 0.75, 2.0 / 3}, {0.6, 1, 0.75}}
	if len(pts) != len(want) {
		t.Fatalf("got %v", pts)
	}
	for i := range want {
		if math.Abs(pts[i].Threshold-want[i].Threshold) > 1e-6 || pts[i].Coverage != want[i].Coverage || math.Abs(pts[i].Accuracy-want[i].Accuracy) > 1e-9 {
			t.Errorf("point %d: %+v, want %+v", i, pts[i], want[i])
		}
	}
	cases := []struct {
		target, want float64
	}{
		{0.95, 0.8}, // 100% at coverage 0.5
		{0.7, 0},    // 75% on everything: never unsure
		{0.76, 0.8}, // 0.7 gives 66.7%
	}
	for _, c := range cases {
		if got := ChooseThreshold(probs, labels, 2, c.target); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("target %v: threshold %v, want %v", c.target, got, c.want)
		}
	}
	// Unreachable at half coverage: the threshold that answers half.
	bad := []int{1, 1, 1, 1}
	if got := ChooseThreshold(probs, bad, 2, 0.95); math.Abs(got-0.8) > 1e-6 {
		t.Errorf("unreachable target: threshold %v, want 0.8", got)
	}
	cov, acc := At(probs, labels, 2, 0.75)
	if cov != 0.5 || acc != 1 {
		t.Errorf("At 0.75: coverage %v accuracy %v", cov, acc)
	}
}

func TestFitErrors(t *testing.T) {
	if _, err := Fit(nil, nil, 3, 0); err == nil {
		t.Error("no predictions: want an error")
	}
	if _, err := Fit([]float32{0.5, 0.5}, []int{2}, 2, 0); err == nil {
		t.Error("label out of range: want an error")
	}
	if _, err := Fit([]float32{0.5, 0.5, 0.1}, []int{0}, 2, 0); err == nil {
		t.Error("ragged probabilities: want an error")
	}
	probs, labels := overconfident(500, 4, 2, 3)
	c, err := Fit(probs, labels, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.ECEAfter >= c.ECEBefore || c.Temperature < 1.5 || c.Coverage < MinCoverage || c.TargetAccuracy != DefaultTargetAccuracy {
		t.Errorf("Fit on an overconfident model: %+v", c)
	}
}
