// Package adapt fits a trained model to a new site from unlabelled
// photos taken there: the BatchNormalization statistics are re-estimated
// on the site's photos (AdaBN: Li et al. 2016; Schneider et al., NeurIPS
// 2020), so that features the board-photographed training data never
// showed (kraft paper, concrete, a bin's lighting) are normalized as the
// network expects. Nothing else changes: no weight is learned, and the
// same photos in the same order give the same model.
package adapt

import (
	"context"
	"fmt"
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
	if clf.Members() > 1 {
		return nil, fmt.Errorf("adapt: adapt each member of an ensemble on its own")
	}
	if o.Batch < 1 {
		o.Batch = 16
	}
	m := clf.Model
	var bns []*nn.BatchNormalization
	trainable := make([]bool, len(m.Layers))
	for i, l := range m.Layers {
		trainable[i] = l.Base().Trainable
		if bn, ok := l.(*nn.BatchNormalization); ok {
			bns = append(bns, bn)
		}
	}
	if len(bns) == 0 {
		return nil, fmt.Errorf("adapt: the model has no BatchNormalization layers")
	}
	momentum := make([]float32, len(bns))
	for i, bn := range bns {
		momentum[i] = bn.Momentum
	}
	defer func() {
		for i, l := range m.Layers {
			l.Base().Trainable = trainable[i]
		}
		for i, bn := range bns {
			bn.Momentum = momentum[i]
		}
	}()
	for _, l := range m.Layers {
		_, isBN := l.(*nn.BatchNormalization)
		l.Base().Trainable = isBN
	}
	gap := m.Index("global_average_pooling2d")
	if gap < 0 {
		return nil, fmt.Errorf("adapt: the model has no global_average_pooling2d layer")
	}
	l, err := data.NewLoader(photos, data.Config{Size: clf.Meta.Size, Resize: clf.Meta.Resize, BatchSize: o.Batch, Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	res := &Result{Layers: len(bns)}
	ch, errf := l.Epoch(ctx, 0)
	for b := range ch {
		res.Skipped += len(b.Skipped)
		n := len(b.Labels)
		if n == 0 {
			continue
		}
		// moving = moving*m + batch*(1-m) with m = seen/(seen+n): the
		// average of the batches so far, each weighted by its size.
		for _, bn := range bns {
			bn.Momentum = float32(res.Photos) / float32(res.Photos+n)
		}
		x := b.X.Clone()
		clf.Preprocess(x.Data)
		if _, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, []int{gap}, true); err != nil {
			for range ch {
			}
			return nil, fmt.Errorf("adapt: %w", err)
		}
		res.Photos += n
	}
	if err := errf(); err != nil {
		return nil, err
	}
	if res.Photos == 0 {
		return nil, fmt.Errorf("adapt: no readable photos in %s", photos.Root)
	}
	clf.Meta.Adapted = append(clf.Meta.Adapted, classifier.Adaptation{
		Method: "adabn", Photos: res.Photos, Source: filepath.Base(photos.Root), Date: time.Now().UTC().Format(time.DateOnly),
	})
	return res, nil
}
