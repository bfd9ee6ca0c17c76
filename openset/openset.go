// Package openset scores how much an image looks like one of a model's
// classes, so that a photo of something else (food, a shoe) can be
// answered "not one of my classes" instead of being named: the maximum
// softmax probability (Hendrycks and Gimpel 2017), the energy score (Liu
// et al., NeurIPS 2020) and the Mahalanobis distance to the nearest class
// mean of pooled features under a shared covariance (Lee et al., NeurIPS
// 2018). Every score is "higher is more in-class"; AUROC and the false
// positive rate at a true positive rate measure how well a score separates
// in-class from out-of-class images, and Threshold picks the cut that keeps
// a given share of in-class images.
package openset

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
)

// Score names.
const (
	MaxProb     = "max_prob"
	Energy      = "energy"
	Mahalanobis = "mahalanobis"
)

// MaxProbScore is the largest probability of a row.
func MaxProbScore(probs []float32) float64 {
	best := math.Inf(-1)
	for _, p := range probs {
		best = max(best, float64(p))
	}
	return best
}

// EnergyScore is the negative free energy T*logsumexp(z/T) of logits z:
// large when some class's logit is large in absolute terms, which the
// softmax, invariant to a shift of all logits, cannot see.
func EnergyScore(logits []float32, T float64) float64 {
	if T <= 0 {
		T = 1
	}
	hi := math.Inf(-1)
	for _, z := range logits {
		hi = max(hi, float64(z)/T)
	}
	s := 0.0
	for _, z := range logits {
		s += math.Exp(float64(z)/T - hi)
	}
	return T * (hi + math.Log(s))
}

// Gaussian is a class-conditional Gaussian model of features with one
// covariance shared by every class (linear discriminant analysis), the
// form Lee et al. fit on a network's features.
type Gaussian struct {
	// Means are the class means, [classes][dim].
	Means [][]float64
	// Precision is the inverse of the shrunk shared covariance, row-major dim x dim.
	Precision []float64
	Dim       int

	once sync.Once
	pm   [][]float64 // Precision times each mean
	mpm  []float64   // each mean's m'Pm
}

// FitGaussian fits class means and the shared covariance of features
// (rows of dim values, one per label). The covariance is shrunk towards
// its mean variance, (1-shrink)*S + shrink*mean(diag S)*I, which keeps it
// invertible with fewer images than dimensions; shrink in (0, 1].
func FitGaussian(features []float32, labels []int, classes, dim int, shrink float64) (*Gaussian, error) {
	n := len(labels)
	switch {
	case dim < 1 || classes < 1:
		return nil, fmt.Errorf("openset: %d classes of %d-dimensional features", classes, dim)
	case n == 0:
		return nil, errors.New("openset: no features to fit")
	case len(features) != n*dim:
		return nil, fmt.Errorf("openset: %d feature values for %d images of dimension %d", len(features), n, dim)
	case !(shrink > 0 && shrink <= 1):
		return nil, fmt.Errorf("openset: shrinkage %g outside (0, 1]", shrink)
	}
	g := &Gaussian{Dim: dim, Means: make([][]float64, classes)}
	count := make([]int, classes)
	for c := range g.Means {
		g.Means[c] = make([]float64, dim)
	}
	for i, y := range labels {
		if y < 0 || y >= classes {
			return nil, fmt.Errorf("openset: label %d outside [0, %d)", y, classes)
		}
		count[y]++
		for j, v := range features[i*dim : (i+1)*dim] {
			g.Means[y][j] += float64(v)
		}
	}
	for c, m := range g.Means {
		if count[c] == 0 {
			return nil, fmt.Errorf("openset: class %d has no images to fit its mean", c)
		}
		for j := range m {
			m[j] /= float64(count[c])
		}
	}
	cov := make([]float64, dim*dim)
	d := make([]float64, dim)
	for i, y := range labels {
		for j, v := range features[i*dim : (i+1)*dim] {
			d[j] = float64(v) - g.Means[y][j]
		}
		for a := 0; a < dim; a++ {
			if d[a] == 0 {
				continue
			}
			row := cov[a*dim : (a+1)*dim]
			for b := a; b < dim; b++ {
				row[b] += d[a] * d[b]
			}
		}
	}
	trace := 0.0
	for a := 0; a < dim; a++ {
		for b := a; b < dim; b++ {
			v := cov[a*dim+b] / float64(n)
			cov[a*dim+b], cov[b*dim+a] = v, v
		}
		trace += cov[a*dim+a]
	}
	mu := trace / float64(dim)
	if !(mu > 0) {
		mu = 1
	}
	for a := 0; a < dim; a++ {
		for b := 0; b < dim; b++ {
			cov[a*dim+b] *= 1 - shrink
		}
		cov[a*dim+a] += shrink * mu
	}
	p, err := invertSPD(cov, dim)
	if err != nil {
		return nil, err
	}
	g.Precision = p
	return g, nil
}

// Score is minus the smallest squared Mahalanobis distance from x to a
// class mean, and that class. It expands (x-m)'P(x-m) as x'Px - 2m'Px +
// m'Pm, so that the dim x dim product is taken once per image rather than
// once per class.
func (g *Gaussian) Score(x []float32) (float64, int) {
	g.once.Do(g.prepare)
	px := make([]float64, g.Dim)
	for a := 0; a < g.Dim; a++ {
		row := g.Precision[a*g.Dim : (a+1)*g.Dim]
		t := 0.0
		for b, v := range x[:g.Dim] {
			t += row[b] * float64(v)
		}
		px[a] = t
	}
	xpx := 0.0
	for a, v := range x[:g.Dim] {
		xpx += float64(v) * px[a]
	}
	best, arg := math.Inf(1), -1
	for c, pm := range g.pm {
		cross := 0.0
		for a, v := range x[:g.Dim] {
			cross += float64(v) * pm[a]
		}
		if s := xpx - 2*cross + g.mpm[c]; s < best {
			best, arg = s, c
		}
	}
	return -best, arg
}

// prepare computes P m and m'P m for each class mean.
func (g *Gaussian) prepare() {
	g.pm, g.mpm = make([][]float64, len(g.Means)), make([]float64, len(g.Means))
	for c, m := range g.Means {
		pm := make([]float64, g.Dim)
		for a := 0; a < g.Dim; a++ {
			row := g.Precision[a*g.Dim : (a+1)*g.Dim]
			t := 0.0
			for b, v := range m {
				t += row[b] * v
			}
			pm[a] = t
		}
		for a, v := range m {
			g.mpm[c] += v * pm[a]
		}
		g.pm[c] = pm
	}
}

// invertSPD inverts a symmetric positive definite matrix by Cholesky
// factorization, A = L L^T, then A^-1 = L^-T L^-1.
func invertSPD(a []float64, n int) ([]float64, error) {
	l := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= l[i*n+k] * l[j*n+k]
			}
			if i == j {
				if !(s > 0) {
					return nil, fmt.Errorf("openset: covariance is not positive definite (pivot %d is %g)", i, s)
				}
				l[i*n+i] = math.Sqrt(s)
			} else {
				l[i*n+j] = s / l[j*n+j]
			}
		}
	}
	// inv(L), lower triangular, column by column.
	li := make([]float64, n*n)
	for j := 0; j < n; j++ {
		li[j*n+j] = 1 / l[j*n+j]
		for i := j + 1; i < n; i++ {
			s := 0.0
			for k := j; k < i; k++ {
				s -= l[i*n+k] * li[k*n+j]
			}
			li[i*n+j] = s / l[i*n+i]
		}
	}
	// A^-1 = inv(L)^T inv(L): entry (i, j) = sum_k li[k][i] li[k][j], k >= max(i, j).
	inv := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			s := 0.0
			for k := j; k < n; k++ {
				s += li[k*n+i] * li[k*n+j]
			}
			inv[i*n+j], inv[j*n+i] = s, s
		}
	}
	return inv, nil
}

// AUROC is the probability that a random in-class score is above a random
// out-of-class one (ties count half): 1 separates perfectly, 0.5 is chance.
func AUROC(in, out []float64) float64 {
	if len(in) == 0 || len(out) == 0 {
		return math.NaN()
	}
	type s struct {
		v  float64
		in bool
	}
	all := make([]s, 0, len(in)+len(out))
	for _, v := range in {
		all = append(all, s{v, true})
	}
	for _, v := range out {
		all = append(all, s{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	// Mann-Whitney U from mid-ranks.
	rankSum := 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1 .. j
		for k := i; k < j; k++ {
			if all[k].in {
				rankSum += mid
			}
		}
		i = j
	}
	n1, n0 := float64(len(in)), float64(len(out))
	return (rankSum - n1*(n1+1)/2) / (n1 * n0)
}

// Threshold is the score that keeps the share keep of in-class scores at
// or above it (the (1-keep) quantile, the lower of the two neighbours).
func Threshold(in []float64, keep float64) float64 {
	if len(in) == 0 {
		return math.Inf(-1)
	}
	s := append([]float64(nil), in...)
	sort.Float64s(s)
	i := int(math.Floor((1 - keep) * float64(len(s))))
	return s[min(max(i, 0), len(s)-1)]
}

// FPRAtTPR is the share of out-of-class scores at or above the threshold
// that keeps the share tpr of in-class scores.
func FPRAtTPR(in, out []float64, tpr float64) float64 {
	if len(out) == 0 {
		return math.NaN()
	}
	t := Threshold(in, tpr)
	n := 0
	for _, v := range out {
		if v >= t {
			n++
		}
	}
	return float64(n) / float64(len(out))
}
