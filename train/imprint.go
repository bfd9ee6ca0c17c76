package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/tensor"
)

// absentLogit is the output of a class that has no training photos in an
// imprinted head: far below any class that has, so it is never predicted.
const absentLogit = -1e4

// ImprintedHead holds the weights of a head that classifies by the squared
// Euclidean distance from the pooled features to each class's mean (the
// classifier of prototypical networks, Snell et al. 2017, set by weight
// imprinting, Qi et al. 2018, rather than by gradient descent): logit c is
// −Scale·‖f − m_c‖² up to a term common to all classes, so the softmax
// equals that of the distances. Kernels are in Keras' layout (inputs ×
// outputs): dense is features × Units, dense_1 Units × classes.
type ImprintedHead struct {
	Dense, DenseBias, Out, OutBias []float32
}

// ImprintWeights builds the head that GlobalAveragePooling → Dense(units,
// relu) → Dense(len(means), softmax) computes as nearest class mean:
// hidden unit c is ⟨f, m_c⟩ plus a shift that keeps it above zero for
// features no lower than floor (0 for the ReLU backbones), and output c
// is 2·scale·(hidden c − shift) − scale·‖m_c‖². A class whose mean is nil
// (no photos) gets absentLogit. Units beyond the classes are zero.
func ImprintWeights(means [][]float32, dim, units int, floor, scale float64) (ImprintedHead, error) {
	k := len(means)
	switch {
	case k < 2:
		return ImprintedHead{}, fmt.Errorf("imprint: %d classes, need at least 2", k)
	case units < k:
		return ImprintedHead{}, fmt.Errorf("imprint: the head's %d hidden units are fewer than its %d classes", units, k)
	case !(scale > 0) || math.IsInf(scale, 0):
		return ImprintedHead{}, fmt.Errorf("imprint: scale %g is not a positive number", scale)
	case floor > 0 || math.IsNaN(floor) || math.IsInf(floor, 0):
		return ImprintedHead{}, fmt.Errorf("imprint: feature floor %g is not a finite number at most 0", floor)
	}
	h := ImprintedHead{
		Dense: make([]float32, dim*units), DenseBias: make([]float32, units),
		Out: make([]float32, units*k), OutBias: make([]float32, k),
	}
	present := 0
	for c, m := range means {
		if m == nil {
			h.OutBias[c] = absentLogit
			continue
		}
		if len(m) != dim {
			return ImprintedHead{}, fmt.Errorf("imprint: class %d's mean has %d values, want %d", c, len(m), dim)
		}
		present++
		var sq, l1 float64
		for i, v := range m {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return ImprintedHead{}, fmt.Errorf("imprint: class %d's mean is not finite", c)
			}
			h.Dense[i*units+c] = v
			sq += float64(v) * float64(v)
			l1 += math.Abs(float64(v))
		}
		// ⟨f, m⟩ ≥ floor·‖m‖₁ for features no lower than floor.
		shift := -floor * l1
		h.DenseBias[c] = float32(shift)
		h.Out[c*k+c] = float32(2 * scale)
		h.OutBias[c] = float32(-scale*sq - 2*scale*shift)
	}
	if present < 2 {
		return ImprintedHead{}, fmt.Errorf("imprint: %d classes have photos, need at least 2", present)
	}
	return h, nil
}

// pooledSet is the pooled features of the training photos (every cached
// view, or one augmented pass when nothing is cached), with their labels
// and the photo each vector came from.
type pooledSet struct {
	x             []float32
	labels, photo []int
	dim           int
}

func (p *pooledSet) add(x []float32, labels []int, photo func(i int) int) {
	p.dim = len(x) / max(len(labels), 1)
	p.x = append(p.x, x...)
	for i, y := range labels {
		p.labels = append(p.labels, y)
		p.photo = append(p.photo, photo(i))
	}
}

func (t *trainer) pooledFeatures(ctx context.Context) (pooledSet, error) {
	var p pooledSet
	if s, ok := t.src.(*cachedSource); ok {
		items := t.trainL.Dataset().Items
		idx := make([]int, len(items))
		labels := make([]int, len(items))
		for i, it := range items {
			idx[i], labels[i] = i, it.Label
		}
		for v := 0; v < s.views; v++ {
			if err := ctx.Err(); err != nil {
				return pooledSet{}, err
			}
			x, err := s.s1.gather(v, idx)
			if err != nil {
				return pooledSet{}, err
			}
			p.add(x.Data, labels, func(i int) int { return i })
		}
	} else {
		err := t.src.train(ctx, 0, 1, func(x *tensor.Tensor, labels []int) error {
			outs, err := t.m.Run(map[int]*tensor.Tensor{t.src.feed(1): x}, []int{t.gapIdx}, false)
			if err != nil {
				return err
			}
			first := len(p.labels)
			p.add(outs[0].Data, labels, func(i int) int { return first + i })
			return nil
		})
		if err != nil {
			return pooledSet{}, err
		}
	}
	if len(p.labels) == 0 {
		return pooledSet{}, errors.New("imprint: no training photos")
	}
	return p, nil
}

// classMeans returns each class's mean feature (nil for a class without
// photos), the number of feature vectors per class and the lowest feature
// value (at most 0).
func (p pooledSet) classMeans(k int) (means [][]float32, counts []int, floor float64) {
	sums := make([][]float64, k)
	counts = make([]int, k)
	for i, y := range p.labels {
		if sums[y] == nil {
			sums[y] = make([]float64, p.dim)
		}
		counts[y]++
		for j, v := range p.x[i*p.dim : (i+1)*p.dim] {
			sums[y][j] += float64(v)
			floor = min(floor, float64(v))
		}
	}
	means = make([][]float32, k)
	for c, s := range sums {
		if s == nil {
			continue
		}
		means[c] = make([]float32, p.dim)
		for j, v := range s {
			means[c][j] = float32(v / float64(counts[c]))
		}
	}
	return means, counts, floor
}

// leaveOneOutDistances returns, per feature vector and class, the squared
// distance to the class mean computed without the vector's photo (all its
// views; +Inf for a class that photo alone has), so that the scale, and
// the calibration of a head fitted on every photo, rest on distances to
// means the photo did not shape.
func (p pooledSet) leaveOneOutDistances(means [][]float32, counts []int) []float64 {
	k := len(means)
	type own struct {
		sum []float64
		n   int
	}
	photos := map[int]*own{}
	for i, ph := range p.photo {
		o := photos[ph]
		if o == nil {
			o = &own{sum: make([]float64, p.dim)}
			photos[ph] = o
		}
		o.n++
		for j, v := range p.x[i*p.dim : (i+1)*p.dim] {
			o.sum[j] += float64(v)
		}
	}
	d := make([]float64, len(p.labels)*k)
	for i, y := range p.labels {
		f := p.x[i*p.dim : (i+1)*p.dim]
		o := photos[p.photo[i]]
		for c, m := range means {
			if m == nil || (c == y && counts[c] <= o.n) {
				d[i*k+c] = math.Inf(1)
				continue
			}
			var s float64
			for j, v := range f {
				mc := float64(m[j])
				if c == y {
					n := float64(counts[c])
					mc = (n*mc - o.sum[j]) / (n - float64(o.n))
				}
				e := float64(v) - mc
				s += e * e
			}
			d[i*k+c] = s
		}
	}
	return d
}

// distanceProbs is the softmax of −scale·d per photo.
func distanceProbs(d []float64, k int, scale float64) []float32 {
	probs := make([]float32, len(d))
	for i := 0; i < len(d)/k; i++ {
		row := d[i*k : (i+1)*k]
		lo := math.Inf(1)
		for _, v := range row {
			lo = min(lo, v)
		}
		var sum float64
		for c, v := range row {
			e := math.Exp(-scale * (v - lo))
			probs[i*k+c] = float32(e)
			sum += e
		}
		for c := range row {
			probs[i*k+c] = float32(float64(probs[i*k+c]) / sum)
		}
	}
	return probs
}

// fitScale chooses the scale of the distances that minimises the
// leave-one-out negative log-likelihood, searched on its logarithm around
// the inverse of the median own-class distance.
func fitScale(d []float64, labels []int, k int) float64 {
	var own []float64
	for i, y := range labels {
		if v := d[i*k+y]; !math.IsInf(v, 0) && v > 0 {
			own = append(own, v)
		}
	}
	if len(own) == 0 {
		return 1
	}
	ref := 1 / median(own)
	nll := func(lt float64) float64 {
		probs := distanceProbs(d, k, ref*math.Exp(lt))
		var s float64
		for i, y := range labels {
			if !math.IsInf(d[i*k+y], 0) {
				s -= math.Log(max(float64(probs[i*k+y]), 1e-12))
			}
		}
		return s
	}
	return ref * math.Exp(calibrate.GoldenSection(nll, math.Log(0.01), math.Log(1000), 1e-3))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// imprint sets the head from the training photos' class means and, for a
// final fit (no held-out photos), returns a calibration fitted on the
// leave-one-out predictions.
func (t *trainer) imprint(ctx context.Context) (*calibrate.Calibration, error) {
	p, err := t.pooledFeatures(ctx)
	if err != nil {
		return nil, err
	}
	k := len(t.clf.Meta.Classes)
	means, counts, floor := p.classMeans(k)
	d := p.leaveOneOutDistances(means, counts)
	scale := fitScale(d, p.labels, k)
	h, err := ImprintWeights(means, p.dim, t.clf.Meta.Head.Units, floor, scale)
	if err != nil {
		return nil, err
	}
	ts := classifier.Tensors(t.m)
	for name, v := range map[string][]float32{"dense/kernel": h.Dense, "dense/bias": h.DenseBias, "dense_1/kernel": h.Out, "dense_1/bias": h.OutBias} {
		cur, ok := ts[name]
		if !ok || len(cur.Data) != len(v) {
			return nil, fmt.Errorf("imprint: the head's %s does not hold %d values", name, len(v))
		}
		ts[name] = classifier.Tensor{Shape: cur.Shape, Data: v}
	}
	if err := classifier.SetTensors(t.m, ts, "imprinted head"); err != nil {
		return nil, err
	}
	var absent []string
	for c, m := range means {
		if m == nil {
			absent = append(absent, t.clf.Meta.Classes[c])
		}
	}
	if t.cfg.Progress != nil {
		right, scored := 0, 0
		for i, y := range p.labels {
			if row := d[i*k : (i+1)*k]; !math.IsInf(row[y], 0) {
				scored++
				if slices.Index(row, slices.Min(row)) == y {
					right++
				}
			}
		}
		fmt.Fprintf(t.cfg.Progress, "imprinted head: class means of %d feature vectors, scale %.4g, leave-one-photo-out accuracy %.4f", len(p.labels), scale, float64(right)/float64(max(scored, 1)))
		if len(absent) > 0 {
			fmt.Fprintf(t.cfg.Progress, "; no photos of %v: never predicted", absent)
		}
		fmt.Fprintln(t.cfg.Progress)
	}
	if !t.cfg.FinalFit {
		return nil, nil
	}
	// Classes without photos, and photos alone in their class, have no
	// leave-one-out prediction to calibrate on.
	var probs []float32
	var labels []int
	all := distanceProbs(d, k, scale)
	for i, y := range p.labels {
		if math.IsInf(d[i*k+y], 0) {
			continue
		}
		probs = append(probs, all[i*k:(i+1)*k]...)
		labels = append(labels, y)
	}
	if len(labels) == 0 {
		return nil, errors.New("imprint: no class has two photos to calibrate on")
	}
	c, err := calibrate.Fit(probs, labels, k, 0)
	if err != nil {
		return nil, fmt.Errorf("imprint: calibration on the leave-one-out predictions: %w", err)
	}
	return &c, nil
}
