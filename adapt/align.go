package adapt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/tensor"
)

// ErrNoSourceFeatures is returned by Align for a model that stores no
// statistics of its training images' features and is given no source
// photos to compute them from.
var ErrNoSourceFeatures = errors.New("the model stores no source feature statistics (models trained before they were recorded): give the photos it was trained on as the source")

// alignEpsilon, relative to the mean source standard deviation, keeps a
// channel that is nearly constant on the site from being amplified.
const alignEpsilon = 0.01

// Align adapts the head to the site's photos by feature alignment: each
// channel of the pooled features is standardized with its mean and
// standard deviation over the photos and given the source's (the
// training images' statistics stored in the model, or those of source
// when it is not nil), f' = (f − μ_site)·(σ_src/σ_site) + μ_src, the
// affine map folded into the first Dense layer of the head. The backbone,
// its BatchNorm statistics and the output layer are untouched; the same
// photos give the same model. It is the mean-and-variance part of CORAL
// (Sun et al., AAAI 2016) applied where the head reads the backbone.
func Align(ctx context.Context, clf *classifier.Classifier, photos, source *data.Dataset, o Options) (*Result, error) {
	if clf.Members() > 1 {
		return nil, fmt.Errorf("adapt: adapt each member of an ensemble on its own")
	}
	if o.Batch < 1 {
		o.Batch = 16
	}
	gap := clf.Model.Index("global_average_pooling2d")
	if gap < 0 {
		return nil, fmt.Errorf("adapt: the model has no global_average_pooling2d layer")
	}
	srcMean, srcStd, ok := clf.SourceFeatureStats()
	if source != nil {
		m, s, n, _, err := pooledStats(ctx, clf, source, gap, o)
		if err != nil {
			return nil, fmt.Errorf("adapt: source photos: %w", err)
		}
		if err := clf.SetSourceFeatures(m, s, classifier.SourceFeatures{Images: n, Split: filepath.Base(source.Root)}); err != nil {
			return nil, err
		}
		srcMean, srcStd, ok = m, s, true
	}
	if !ok {
		return nil, fmt.Errorf("adapt: %w", ErrNoSourceFeatures)
	}
	siteMean, siteStd, n, skipped, err := pooledStats(ctx, clf, photos, gap, o)
	if err != nil {
		return nil, err
	}
	ts := classifier.Tensors(clf.Model)
	k, b := ts["dense/kernel"], ts["dense/bias"]
	d := len(srcMean)
	if len(k.Shape) != 2 || k.Shape[0] != d || len(b.Data) != k.Shape[1] {
		return nil, fmt.Errorf("adapt: the head's dense layer %v does not read %d pooled channels", k.Shape, d)
	}
	units := k.Shape[1]
	var meanStd float64
	for _, s := range srcStd {
		meanStd += float64(s)
	}
	eps := alignEpsilon * meanStd / float64(d)
	kernel, bias := make([]float32, len(k.Data)), make([]float64, units)
	for u := range bias {
		bias[u] = float64(b.Data[u])
	}
	for i := 0; i < d; i++ {
		a := (float64(srcStd[i]) + eps) / (float64(siteStd[i]) + eps)
		shift := float64(srcMean[i]) - a*float64(siteMean[i])
		row := k.Data[i*units : (i+1)*units]
		for u, w := range row {
			kernel[i*units+u] = float32(a * float64(w))
			bias[u] += shift * float64(w)
		}
	}
	b32 := make([]float32, units)
	for u, v := range bias {
		b32[u] = float32(v)
	}
	ts["dense/kernel"] = classifier.Tensor{Shape: k.Shape, Data: kernel}
	ts["dense/bias"] = classifier.Tensor{Shape: b.Shape, Data: b32}
	if err := classifier.SetTensors(clf.Model, ts, "aligned head"); err != nil {
		return nil, err
	}
	s := &session{clf: clf, photos: photos}
	s.record("align", n)
	return &Result{Photos: n, Skipped: skipped, Layers: 1}, nil
}

// pooledStats runs the model in inference mode over the photos and returns
// the per-channel mean and standard deviation of the pooled features.
func pooledStats(ctx context.Context, clf *classifier.Classifier, photos *data.Dataset, gap int, o Options) (mean, std []float32, n, skipped int, err error) {
	l, err := data.NewLoader(photos, data.Config{Size: clf.Meta.Size, Resize: clf.Meta.Resize, BatchSize: o.Batch, Workers: o.Workers})
	if err != nil {
		return nil, nil, 0, 0, err
	}
	var fm classifier.FeatureMoments
	for b, err := range l.All(ctx, 0) {
		if err != nil {
			return nil, nil, 0, 0, err
		}
		skipped += len(b.Skipped)
		if len(b.Labels) == 0 {
			continue
		}
		x := b.X.Clone()
		clf.Preprocess(x.Data)
		outs, err := clf.Model.Run(map[int]*tensor.Tensor{clf.Model.Inputs[0]: x}, []int{gap}, false)
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("adapt: %w", err)
		}
		fm.Add(outs[0].Data, len(b.Labels))
	}
	if fm.N < 2 {
		return nil, nil, 0, 0, fmt.Errorf("adapt: %d readable photos in %s, need at least 2", fm.N, photos.Root)
	}
	mean, std = fm.MeanStd()
	n = fm.N
	return mean, std, n, skipped, nil
}
