package train

import (
	"math"
	"math/rand/v2"

	"trashsort/tensor"
)

// mixer implements mixup (Zhang et al. 2018; timm's --mixup, fastai's
// MixUp) on whatever a step is fed: images on the fly, or cached
// activations (then it is manifold mixup at the cached layer). Each batch
// is mixed with a permutation of itself, x = lam*x + (1-lam)*x[perm], with
// lam ~ Beta(alpha, alpha); the loss mixes the two labels' losses with the
// same weights, which for cross-entropy equals mixing the one-hot targets.
type mixer struct {
	alpha float64
	rng   *rand.Rand
}

func newMixer(alpha float64, seed uint64, epoch int) *mixer {
	return &mixer{alpha: alpha, rng: rand.New(rand.NewPCG(seed^0x6d6978, uint64(epoch)+1))}
}

// mix mixes x in place and returns lam and the partner of each row.
func (m *mixer) mix(x *tensor.Tensor) (float64, []int) {
	n := x.Shape[0]
	lam := betaSample(m.rng, m.alpha)
	perm := m.rng.Perm(n)
	per := len(x.Data) / n
	orig := append([]float32(nil), x.Data...)
	l, r := float32(lam), float32(1-lam)
	for i, j := range perm {
		a, b := x.Data[i*per:(i+1)*per], orig[j*per:(j+1)*per]
		for k := range a {
			a[k] = l*a[k] + r*b[k]
		}
	}
	return lam, perm
}

// gammaSample draws from Gamma(shape, 1) (Marsaglia and Tsang 2000; for
// shape < 1 the boost Gamma(a) = Gamma(a+1) * U^(1/a)).
func gammaSample(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gammaSample(r, shape+1) * math.Pow(r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// betaSample draws from Beta(a, a).
func betaSample(r *rand.Rand, a float64) float64 {
	x, y := gammaSample(r, a), gammaSample(r, a)
	if x+y == 0 {
		return 0.5
	}
	return x / (x + y)
}
