package classifier

import (
	"fmt"
	"math"

	"trashsort/openset"
	"trashsort/safetensors"
	"trashsort/tensor"
)

// OpenSet is the stored "none of my classes" detector: the Mahalanobis
// score of an image's pooled features under class-conditional Gaussians
// with a shared covariance (package openset), and the threshold below
// which the answer is Unknown. The Gaussians' means and precision matrix
// are tensors of the model file (openset/means, openset/precision).
type OpenSet struct {
	// Score is openset.Mahalanobis.
	Score string `json:"score"`
	// Threshold is the score below which an image is none of the classes,
	// chosen to keep TPR of the held-out in-class images.
	Threshold float64 `json:"threshold"`
	TPR       float64 `json:"tpr"`
	// FitImages and HeldOutImages count the images the Gaussians and the
	// threshold were fitted on.
	FitImages     int     `json:"fit_images"`
	HeldOutImages int     `json:"held_out_images"`
	Shrink        float64 `json:"shrink"`
}

// Unknown is the label given to an image the open-set detector finds to be
// none of the classes.
const Unknown = "unknown"

// Tensor names of the open-set detector in a model file.
const (
	openSetMeans     = "openset/means"
	openSetPrecision = "openset/precision"
)

// SetOpenSet stores a fitted detector in the model (nil g removes it).
func (c *Classifier) SetOpenSet(g *openset.Gaussian, o OpenSet) error {
	if g == nil {
		c.Meta.OpenSet, c.gauss = nil, nil
		return nil
	}
	if len(g.Means) != len(c.Meta.Classes) {
		return fmt.Errorf("classifier: open-set detector has %d class means for %d classes", len(g.Means), len(c.Meta.Classes))
	}
	if d := c.featureDim(); g.Dim != d {
		return fmt.Errorf("classifier: open-set detector of %d-dimensional features, the model pools %d", g.Dim, d)
	}
	o.Score = openset.Mahalanobis
	c.Meta.OpenSet, c.gauss = &o, g
	return nil
}

// OpenSetScore is the detector's score of pooled features (one image) and
// whether it is below the threshold (none of the classes); false without
// a detector.
func (c *Classifier) OpenSetScore(features []float32) (float64, bool) {
	if c.gauss == nil || c.Meta.OpenSet == nil {
		return math.Inf(1), false
	}
	s, _ := c.gauss.Score(features)
	return s, s < c.Meta.OpenSet.Threshold
}

// HasOpenSet reports whether the model carries an open-set detector.
func (c *Classifier) HasOpenSet() bool { return c.gauss != nil && c.Meta.OpenSet != nil }

// featureDim is the width of the pooled features.
func (c *Classifier) featureDim() int {
	gap := c.Model.Index("global_average_pooling2d")
	if gap < 0 {
		return 0
	}
	s := c.Model.Layers[gap].Base().OutShape()
	return s[len(s)-1]
}

// openSetTensors are the detector's tensors for the model file.
func (c *Classifier) openSetTensors() map[string]Tensor {
	if !c.HasOpenSet() {
		return nil
	}
	g := c.gauss
	k, d := len(g.Means), g.Dim
	means := tensor.New(k, d)
	for i, m := range g.Means {
		for j, v := range m {
			means.Data[i*d+j] = float32(v)
		}
	}
	prec := tensor.New(d, d)
	for i, v := range g.Precision {
		prec.Data[i] = float32(v)
	}
	return map[string]Tensor{openSetMeans: {Shape: means.Shape, Data: means.Data}, openSetPrecision: {Shape: prec.Shape, Data: prec.Data}}
}

// loadOpenSet reads the detector's tensors when the metadata has one,
// their shapes checked against the classes and the pooled width first.
func (c *Classifier) loadOpenSet(f *safetensors.File, source string) error {
	if c.Meta.OpenSet == nil {
		return nil
	}
	if c.Meta.OpenSet.Score != openset.Mahalanobis {
		return fmt.Errorf("%s: unknown open-set score %q", source, c.Meta.OpenSet.Score)
	}
	if t := c.Meta.OpenSet.Threshold; math.IsNaN(t) || math.IsInf(t, 0) {
		return fmt.Errorf("%s: open-set threshold %g is not finite", source, t)
	}
	k, d := len(c.Meta.Classes), c.featureDim()
	for _, w := range []struct {
		name  string
		shape []int
	}{{openSetMeans, []int{k, d}}, {openSetPrecision, []int{d, d}}} {
		name, shape := w.name, w.shape
		e, ok := f.Entries[name]
		if !ok {
			return fmt.Errorf("%s: the metadata names an open-set detector but the file has no %q", source, name)
		}
		if !tensor.SameShape(e.Shape, shape) {
			return fmt.Errorf("%s: %q: expected shape %v, found %v", source, name, shape, e.Shape)
		}
	}
	means, prec := make([]float32, k*d), make([]float32, d*d)
	if err := f.ReadInto(openSetMeans, means); err != nil {
		return err
	}
	if err := f.ReadInto(openSetPrecision, prec); err != nil {
		return err
	}
	g := &openset.Gaussian{Dim: d, Means: make([][]float64, k), Precision: make([]float64, d*d)}
	for i := range g.Means {
		g.Means[i] = make([]float64, d)
		for j := range g.Means[i] {
			g.Means[i][j] = float64(means[i*d+j])
		}
	}
	for i, v := range prec {
		g.Precision[i] = float64(v)
	}
	c.gauss = g
	return nil
}

// LabelOpen is Label with the open-set detector: Unknown when features
// (one image's pooled features) score below its threshold, else Label's
// answer. The top class index is returned either way.
func (c *Classifier) LabelOpen(probs, features []float32, threshold float64) (string, int) {
	label, best := c.Label(probs, threshold)
	if features != nil {
		if _, unknown := c.OpenSetScore(features); unknown {
			return Unknown, best
		}
	}
	return label, best
}
