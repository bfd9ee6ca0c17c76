// Package adapt fits a trained model to a new site from unlabelled
// photos taken there: the BatchNormalization statistics are re-estimated
// on the site's photos (AdaBN: Li et al. 2016; Schneider et al., NeurIPS
// 2020), so that features the board-photographed training data never
// showed (kraft paper, concrete, a bin's lighting) are normalized as the
// network expects. Nothing else changes: no weight is learned, and the
// same photos in the same order give the same model. Entropy goes one step
// further (TENT: Wang et al., ICLR 2021): it also learns the BatchNorm
// scales and shifts by making the model's predictions on the site's photos
// more confident.
package adapt

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/nn"
	"trashsort/tensor"
)

// Options tune an adaptation.
type Options struct {
	// Batch is the number of photos per pass (default 16); each batch
	// contributes its statistics weighted by its size.
	Batch   int
	Workers int
	// Epochs is the number of passes over the photos that Entropy learns
	// from (default 1).
	Epochs int
	// LR is Entropy's SGD learning rate (momentum 0.9; default
	// DefaultEntropyLR).
	LR float64
}

// Result says what was adapted.
type Result struct {
	Photos  int
	Skipped int
	Layers  int
}

// BatchNorm replaces the moving mean and variance of every
// BatchNormalization layer of clf with their averages over the photos
// (at the model's input size), and records the adaptation in clf.Meta.
// Each batch runs with the layers normalizing by its own statistics, as
// in training, and the moving statistics become the cumulative average of
// the batches' (PyTorch's momentum=None).
func BatchNorm(ctx context.Context, clf *classifier.Classifier, photos *data.Dataset, o Options) (*Result, error) {
	s, err := newSession(clf, photos, &o)
	if err != nil {
		return nil, err
	}
	defer s.restore()
	res, err := s.statistics(ctx)
	if err != nil {
		return nil, err
	}
	s.record("adabn", res.Photos)
	return res, nil
}

// session holds a model prepared for adaptation: only its BatchNorm
// layers trainable, their momentum saved to put back.
type session struct {
	clf       *classifier.Classifier
	m         *nn.Model
	photos    *data.Dataset
	o         Options
	bns       []*nn.BatchNormalization
	trainable []bool
	momentum  []float32
	gap       int
	loader    *data.Loader
}

func newSession(clf *classifier.Classifier, photos *data.Dataset, o *Options) (*session, error) {
	if clf.Members() > 1 {
		return nil, fmt.Errorf("adapt: adapt each member of an ensemble on its own")
	}
	if o.Batch < 1 {
		o.Batch = 16
	}
	m := clf.Model
	s := &session{clf: clf, m: m, photos: photos, o: *o, trainable: make([]bool, len(m.Layers))}
	for i, l := range m.Layers {
		s.trainable[i] = l.Base().Trainable
		if bn, ok := l.(*nn.BatchNormalization); ok {
			s.bns = append(s.bns, bn)
		}
	}
	if len(s.bns) == 0 {
		return nil, fmt.Errorf("adapt: the model has no BatchNormalization layers")
	}
	if s.gap = m.Index("global_average_pooling2d"); s.gap < 0 {
		return nil, fmt.Errorf("adapt: the model has no global_average_pooling2d layer")
	}
	l, err := data.NewLoader(photos, data.Config{Size: clf.Meta.Size, Resize: clf.Meta.Resize, BatchSize: o.Batch, Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	s.loader = l
	s.momentum = make([]float32, len(s.bns))
	for i, bn := range s.bns {
		s.momentum[i] = bn.Momentum
	}
	for _, l := range m.Layers {
		_, isBN := l.(*nn.BatchNormalization)
		l.Base().Trainable = isBN
	}
	return s, nil
}

// restore puts back the layers' trainable flags and momentum.
func (s *session) restore() {
	for i, l := range s.m.Layers {
		l.Base().Trainable = s.trainable[i]
	}
	for i, bn := range s.bns {
		bn.Momentum = s.momentum[i]
	}
}

// record notes the adaptation in the model's metadata.
func (s *session) record(method string, photos int) {
	s.clf.Meta.Adapted = append(s.clf.Meta.Adapted, classifier.Adaptation{
		Method: method, Photos: photos, Source: filepath.Base(s.photos.Root), Date: time.Now().UTC().Format(time.DateOnly),
	})
}

// batches runs fn on each batch of photos, preprocessed, in order.
func (s *session) batches(ctx context.Context, fn func(x *tensor.Tensor) error) (*Result, error) {
	res := &Result{Layers: len(s.bns)}
	for b, err := range s.loader.All(ctx, 0) {
		if err != nil {
			return nil, err
		}
		res.Skipped += len(b.Skipped)
		n := len(b.Labels)
		if n == 0 {
			continue
		}
		x := b.X.Clone()
		s.clf.Preprocess(x.Data)
		if err := fn(x); err != nil {
			return nil, fmt.Errorf("adapt: %w", err)
		}
		res.Photos += n
	}
	if res.Photos == 0 {
		return nil, fmt.Errorf("adapt: no readable photos in %s", s.photos.Root)
	}
	return res, nil
}

// statistics sets every BatchNorm's moving statistics to their averages
// over the photos.
func (s *session) statistics(ctx context.Context) (*Result, error) {
	seen := 0
	return s.batches(ctx, func(x *tensor.Tensor) error {
		n := x.Shape[0]
		// moving = moving*m + batch*(1-m) with m = seen/(seen+n): the
		// average of the batches so far, each weighted by its size.
		for _, bn := range s.bns {
			bn.Momentum = float32(seen) / float32(seen+n)
		}
		seen += n
		_, err := s.m.Run(map[int]*tensor.Tensor{s.m.Inputs[0]: x}, []int{s.gap}, true)
		return err
	})
}

// DefaultEntropyLR is Entropy's learning rate unless Options.LR is set:
// TENT's SGD rate for ImageNet (0.00025 at batch 64), scaled to batch 16.
const DefaultEntropyLR = 6.25e-5

// Entropy adapts clf to the photos as BatchNorm does, then learns the
// BatchNorm layers' scales and shifts (nothing else) by SGD on the mean
// entropy of the model's predictions on the photos, each batch normalized
// by its own statistics (TENT), for o.Epochs passes in order; finally the
// moving statistics are estimated again under the new scales and shifts,
// since every layer's input statistics depend on the layers below. The
// same photos and options give the same model.
func Entropy(ctx context.Context, clf *classifier.Classifier, photos *data.Dataset, o Options) (*Result, error) {
	if o.Epochs < 0 || o.LR < 0 || math.IsNaN(o.LR) || math.IsInf(o.LR, 0) {
		return nil, fmt.Errorf("adapt: epochs %d, learning rate %g: want positive values", o.Epochs, o.LR)
	}
	if o.Epochs == 0 {
		o.Epochs = 1
	}
	if o.LR == 0 {
		o.LR = DefaultEntropyLR
	}
	s, err := newSession(clf, photos, &o)
	if err != nil {
		return nil, err
	}
	defer s.restore()
	if _, err := s.statistics(ctx); err != nil {
		return nil, err
	}
	params := s.m.TrainableParams()
	if len(params) == 0 {
		return nil, fmt.Errorf("adapt: the model's BatchNorm layers have no scales or shifts to learn")
	}
	for _, bn := range s.bns {
		bn.Momentum = 1 // batch statistics in the pass; the moving ones are re-estimated after
	}
	opt := nn.NewSGD(o.LR, 0.9, false)
	for e := 0; e < o.Epochs; e++ {
		if _, err := s.batches(ctx, func(x *tensor.Tensor) error {
			for _, p := range params {
				p.Grad.Zero()
			}
			probs, err := s.m.Forward(x, true)
			if err != nil {
				return err
			}
			if err := s.m.Backward(EntropyGrad(probs), true); err != nil {
				return err
			}
			opt.Step(params)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	res, err := s.statistics(ctx)
	if err != nil {
		return nil, err
	}
	s.record("tent", res.Photos)
	return res, nil
}

// EntropyGrad is the gradient of the mean entropy of the rows of probs,
// softmax outputs, with respect to their logits:
// dH/dz_j = -p_j (log p_j + H) for each row, divided by the rows.
func EntropyGrad(probs *tensor.Tensor) *tensor.Tensor {
	n, k := probs.Shape[0], probs.Shape[1]
	dz := tensor.New(n, k)
	for i := 0; i < n; i++ {
		p := probs.Data[i*k : (i+1)*k]
		h := 0.0
		for _, v := range p {
			if v > 0 {
				h -= float64(v) * math.Log(float64(v))
			}
		}
		for j, v := range p {
			if v > 0 {
				dz.Data[i*k+j] = float32(-float64(v) * (math.Log(float64(v)) + h) / float64(n))
			}
		}
	}
	return dz
}
