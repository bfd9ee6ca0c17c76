package openset

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAUROC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out []float64
		want    float64
	}{
		{"separated", []float64{3, 4, 5}, []float64{0, 1, 2}, 1},
		{"reversed", []float64{0, 1}, []float64{2, 3}, 0},
		{"all tied", []float64{1, 1}, []float64{1, 1, 1}, 0.5},
		{"one of four pairs wrong", []float64{1, 3}, []float64{0, 2}, 0.75},
		{"tie counts half", []float64{2}, []float64{2, 0}, 0.75},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AUROC(tc.in, tc.out); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("AUROC = %g, want %g", got, tc.want)
			}
		})
	}
	if !math.IsNaN(AUROC(nil, []float64{1})) {
		t.Fatal("AUROC without in-class scores should be NaN")
	}
}

func TestThresholdAndFPR(t *testing.T) {
	in := make([]float64, 100)
	for i := range in {
		in[i] = float64(i)
	}
	th := Threshold(in, 0.95)
	kept := 0
	for _, v := range in {
		if v >= th {
			kept++
		}
	}
	if kept < 95 || kept > 96 {
		t.Fatalf("threshold %g keeps %d of 100, want 95", th, kept)
	}
	out := []float64{-1, 2, 10, 50} // 10 and 50 pass
	if got := FPRAtTPR(in, out, 0.95); got != 0.5 {
		t.Fatalf("FPR = %g, want 0.5", got)
	}
}

func TestEnergy(t *testing.T) {
	// logsumexp of equal logits z is z + log k; shifting every logit by c shifts the energy by c.
	z := []float32{2, 2, 2, 2}
	if got, want := EnergyScore(z, 1), 2+math.Log(4); math.Abs(got-want) > 1e-6 {
		t.Fatalf("energy = %g, want %g", got, want)
	}
	a := EnergyScore([]float32{1, -3, 0.5}, 1)
	b := EnergyScore([]float32{6, 2, 5.5}, 1)
	if math.Abs(b-a-5) > 1e-5 {
		t.Fatalf("shift by 5 moved the energy by %g", b-a)
	}
	// Large logits do not overflow.
	if e := EnergyScore([]float32{1000, 999}, 1); math.IsInf(e, 0) || math.Abs(e-1000.3132617) > 1e-3 {
		t.Fatalf("energy of large logits = %g", e)
	}
	if got := MaxProbScore([]float32{0.2, 0.7, 0.1}); math.Abs(got-0.7) > 1e-7 {
		t.Fatalf("max prob = %g", got)
	}
}

func TestInvertSPD(t *testing.T) {
	a := []float64{4, 2, 0.6, 2, 5, 1, 0.6, 1, 3}
	inv, err := invertSPD(a, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			s := 0.0
			for k := 0; k < 3; k++ {
				s += a[i*3+k] * inv[k*3+j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(s-want) > 1e-12 {
				t.Fatalf("(A A^-1)[%d][%d] = %g", i, j, s)
			}
		}
	}
	if _, err := invertSPD([]float64{1, 2, 2, 1}, 2); err == nil {
		t.Fatal("an indefinite matrix was inverted")
	}
}

// Two Gaussian classes in 8 dimensions; points far from both means score
// below points drawn from them, and the nearest class is the one drawn.
func TestGaussianRanksOutliersLow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const dim = 8
	var feats []float32
	var labels []int
	mean := func(c, j int) float64 { return float64(c*4) * float64(j%2) }
	draw := func(c int) []float32 {
		x := make([]float32, dim)
		for j := range x {
			x[j] = float32(mean(c, j) + r.NormFloat64())
		}
		return x
	}
	for i := 0; i < 200; i++ {
		feats = append(feats, draw(i%2)...)
		labels = append(labels, i%2)
	}
	g, err := FitGaussian(feats, labels, 2, dim, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	var in, out []float64
	for i := 0; i < 50; i++ {
		x := draw(i % 2)
		s, c := g.Score(x)
		if c != i%2 {
			t.Fatalf("point of class %d nearest to class %d", i%2, c)
		}
		in = append(in, s)
		y := make([]float32, dim)
		for j := range y {
			y[j] = float32(10 + r.NormFloat64())
		}
		s, _ = g.Score(y)
		out = append(out, s)
	}
	if a := AUROC(in, out); a < 0.99 {
		t.Fatalf("AUROC %g: outliers not ranked below class points", a)
	}
}

func TestFitGaussianErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		feats  []float32
		labels []int
		shrink float64
	}{
		{"no images", nil, nil, 0.1},
		{"length mismatch", []float32{1, 2, 3}, []int{0, 1}, 0.1},
		{"empty class", []float32{1, 2, 3, 4}, []int{0, 0}, 0.1},
		{"label out of range", []float32{1, 2, 3, 4}, []int{0, 5}, 0.1},
		{"shrink zero", []float32{1, 2, 3, 4}, []int{0, 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FitGaussian(tc.feats, tc.labels, 2, 2, tc.shrink); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// Score equals the direct (x-m)'P(x-m), minimized over the classes.
func TestScoreMatchesDirectDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const dim, k = 6, 3
	var feats []float32
	var labels []int
	for i := 0; i < 60; i++ {
		for j := 0; j < dim; j++ {
			feats = append(feats, float32(r.NormFloat64()*float64(1+j%3)+float64(i%k)))
		}
		labels = append(labels, i%k)
	}
	g, err := FitGaussian(feats, labels, k, dim, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 20; n++ {
		x := make([]float32, dim)
		for j := range x {
			x[j] = float32(3 * r.NormFloat64())
		}
		best, arg := math.Inf(1), -1
		for c, m := range g.Means {
			s := 0.0
			for a := 0; a < dim; a++ {
				for b := 0; b < dim; b++ {
					s += (float64(x[a]) - m[a]) * g.Precision[a*dim+b] * (float64(x[b]) - m[b])
				}
			}
			if s < best {
				best, arg = s, c
			}
		}
		got, c := g.Score(x)
		if c != arg || math.Abs(got+best) > 1e-9*math.Max(1, best) {
			t.Fatalf("score %g (class %d), direct %g (class %d)", got, c, -best, arg)
		}
	}
}
