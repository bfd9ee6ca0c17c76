package classifier

import (
	"fmt"
	"math"

	"trashsort/safetensors"
	"trashsort/tensor"
)

// SourceFeatures describes the stored statistics of the pooled features of
// the images the model was trained for: the per-channel mean and standard
// deviation (tensors source_features/mean and source_features/std of the
// model file). Aligning a site's features to them is an adaptation that
// needs only the site's unlabelled photos (adapt.Align).
type SourceFeatures struct {
	// Images is the number of images the statistics were computed over.
	Images int `json:"images"`
	// Split names them: "val" (the validation split, unaugmented) or
	// "train".
	Split string `json:"split"`
}

// Tensor names of the source feature statistics in a model file.
const (
	sourceFeaturesMean = "source_features/mean"
	sourceFeaturesStd  = "source_features/std"
)

// SetSourceFeatures stores the statistics of the pooled features (nil mean
// removes them).
func (c *Classifier) SetSourceFeatures(mean, std []float32, s SourceFeatures) error {
	if mean == nil {
		c.Meta.SourceFeatures, c.srcMean, c.srcStd = nil, nil, nil
		return nil
	}
	if err := checkSourceFeatures(mean, std, c.featureDim()); err != nil {
		return fmt.Errorf("classifier: %w", err)
	}
	c.Meta.SourceFeatures = &s
	c.srcMean, c.srcStd = append([]float32(nil), mean...), append([]float32(nil), std...)
	return nil
}

// SourceFeatureStats returns the stored per-channel mean and standard
// deviation of the pooled features, and whether there are any.
func (c *Classifier) SourceFeatureStats() (mean, std []float32, ok bool) {
	if c.Meta.SourceFeatures == nil || c.srcMean == nil {
		return nil, nil, false
	}
	return c.srcMean, c.srcStd, true
}

func checkSourceFeatures(mean, std []float32, d int) error {
	if len(mean) != d || len(std) != d {
		return fmt.Errorf("source feature statistics of %d and %d channels, the model pools %d", len(mean), len(std), d)
	}
	for i := range mean {
		m, s := float64(mean[i]), float64(std[i])
		if math.IsNaN(m) || math.IsInf(m, 0) || math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
			return fmt.Errorf("source feature statistics: channel %d has mean %g and standard deviation %g", i, m, s)
		}
	}
	return nil
}

func (c *Classifier) sourceFeatureTensors() map[string]Tensor {
	if _, _, ok := c.SourceFeatureStats(); !ok {
		return nil
	}
	d := len(c.srcMean)
	return map[string]Tensor{
		sourceFeaturesMean: {Shape: []int{d}, Data: c.srcMean},
		sourceFeaturesStd:  {Shape: []int{d}, Data: c.srcStd},
	}
}

// loadSourceFeatures reads the statistics when the metadata names them,
// their shapes checked before they are read.
func (c *Classifier) loadSourceFeatures(f *safetensors.File, source string) error {
	if c.Meta.SourceFeatures == nil {
		return nil
	}
	d := c.featureDim()
	for _, name := range []string{sourceFeaturesMean, sourceFeaturesStd} {
		e, ok := f.Entries[name]
		if !ok {
			return fmt.Errorf("%s: the metadata names source feature statistics but the file has no %q", source, name)
		}
		if !tensor.SameShape(e.Shape, []int{d}) {
			return fmt.Errorf("%s: %q: expected shape [%d], found %v", source, name, d, e.Shape)
		}
	}
	mean, std := make([]float32, d), make([]float32, d)
	if err := f.ReadInto(sourceFeaturesMean, mean); err != nil {
		return err
	}
	if err := f.ReadInto(sourceFeaturesStd, std); err != nil {
		return err
	}
	if err := checkSourceFeatures(mean, std, d); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	c.srcMean, c.srcStd = mean, std
	return nil
}

// FeatureMoments accumulates the per-channel mean and standard deviation
// of pooled features, batch by batch, for SetSourceFeatures.
type FeatureMoments struct {
	sum, sq []float64
	// N is the number of feature vectors added.
	N int
}

// Add adds rows feature vectors laid out one after another in x.
func (m *FeatureMoments) Add(x []float32, rows int) {
	if rows == 0 {
		return
	}
	d := len(x) / rows
	if m.sum == nil {
		m.sum, m.sq = make([]float64, d), make([]float64, d)
	}
	for i := 0; i < rows; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			m.sum[j] += float64(v)
			m.sq[j] += float64(v) * float64(v)
		}
	}
	m.N += rows
}

// MeanStd returns the per-channel mean and (population) standard deviation.
func (m *FeatureMoments) MeanStd() (mean, std []float32) {
	mean, std = make([]float32, len(m.sum)), make([]float32, len(m.sum))
	for j := range m.sum {
		mu := m.sum[j] / float64(max(m.N, 1))
		mean[j] = float32(mu)
		std[j] = float32(math.Sqrt(max(m.sq[j]/float64(max(m.N, 1))-mu*mu, 0)))
	}
	return mean, std
}
