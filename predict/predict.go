// Package predict runs a classifier over a dataset: each image's
// probabilities in the dataset's order with its label and file, on request
// the logits and pooled features, each optionally averaged with the
// horizontal flip's. Evaluation, calibration and open-set fitting all read
// a model's predictions through Dataset, so a loader is drained in one
// place and every caller sees the same numbers for the same images.
//
// It sits between the packages that score or fit a model (evaluate,
// train, the command) and the model itself (classifier) with its data
// (data): classifier knows nothing of datasets, and train may not import
// evaluate.
package predict

import (
	"context"
	"fmt"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/tensor"
)

// DefaultBatch is the batch size when Options.Batch is 0.
const DefaultBatch = 32

// Options tune a pass over a dataset.
type Options struct {
	// Batch is the number of images per forward pass (DefaultBatch when 0).
	Batch int
	// Workers decode in parallel (default: the number of CPUs).
	Workers int
	// TTA averages each output with the horizontal flip's.
	TTA bool
	// Outputs also keeps the logits and pooled features (a single model
	// only: an ensemble's members have feature spaces of their own).
	Outputs bool
}

// Result is a model's predictions over a dataset, a row per readable
// image in the dataset's order.
type Result struct {
	// Classes is the number of classes, the width of Probs and Logits.
	Classes int
	// Probs are the probabilities before the model's temperature
	// (classifier.PredictViews'), [images, Classes].
	Probs  []float32
	Labels []int
	Paths  []string
	// Skipped counts the files that could not be read.
	Skipped int
	// Logits [images, Classes] and Features [images, Dim], with Options.Outputs.
	Logits   []float32
	Features []float32
	Dim      int
}

// Images is the number of images predicted.
func (r *Result) Images() int { return len(r.Labels) }

// Dataset predicts every image of ds with clf, read at clf's input sizes
// (classifier.InputSizes), unaugmented, in ds's order. ds's labels index
// clf's classes.
func Dataset(ctx context.Context, clf *classifier.Classifier, ds *data.Dataset, o Options) (*Result, error) {
	batch := o.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	sizes := clf.InputSizes()
	l, err := data.NewLoader(ds, data.Config{Size: sizes[0], Sizes: sizes[1:], Resize: clf.Meta.Resize, BatchSize: batch, Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	r := &Result{Classes: len(clf.Meta.Classes)}
	for b, err := range l.All(ctx, 0) {
		if err != nil {
			return nil, err
		}
		r.Skipped += len(b.Skipped)
		if len(b.Labels) == 0 {
			continue
		}
		if err := r.add(clf, b.Images(), o); err != nil {
			return nil, fmt.Errorf("predict: %s: %w", ds.Root, err)
		}
		r.Labels = append(r.Labels, b.Labels...)
		for _, it := range b.Items {
			r.Paths = append(r.Paths, ds.Items[it].Path)
		}
	}
	return r, nil
}

// add appends one batch's predictions.
func (r *Result) add(clf *classifier.Classifier, v classifier.Views, o Options) error {
	if !o.Outputs {
		p, err := Probs(clf, v, o.TTA)
		if err != nil {
			return err
		}
		r.Probs = append(r.Probs, p.Data...)
		return nil
	}
	out, err := Outputs(clf, v, o.TTA)
	if err != nil {
		return err
	}
	r.Probs = append(r.Probs, out.Probs.Data...)
	r.Logits = append(r.Logits, out.Logits.Data...)
	r.Features = append(r.Features, out.Features.Data...)
	r.Dim = out.Features.Shape[1]
	return nil
}

// Probs returns clf's probabilities before its temperature
// (classifier.PredictViews) for the images v, averaged with the
// horizontal flip's when tta is set.
func Probs(clf *classifier.Classifier, v classifier.Views, tta bool) (*tensor.Tensor, error) {
	return withFlip(v, tta, clf.PredictViews, mean)
}

// Outputs is Probs with the logits and pooled features
// (classifier.PredictOutputs), each averaged with the flip's when tta is set.
func Outputs(clf *classifier.Classifier, v classifier.Views, tta bool) (*classifier.Outputs, error) {
	return withFlip(v, tta, clf.PredictOutputs, func(o, q *classifier.Outputs) {
		mean(o.Probs, q.Probs)
		mean(o.Logits, q.Logits)
		mean(o.Features, q.Features)
	})
}

// withFlip is run(v), averaged by merge with run on the flipped views
// when tta is set.
func withFlip[T any](v classifier.Views, tta bool, run func(classifier.Views) (T, error), merge func(into, other T)) (T, error) {
	p, err := run(v)
	if err != nil || !tta {
		return p, err
	}
	q, err := run(Flip(v))
	if err != nil {
		var none T
		return none, err
	}
	merge(p, q)
	return p, nil
}

// mean sets p to the mean of p and q, element by element.
func mean(p, q *tensor.Tensor) {
	for i := range p.Data {
		p.Data[i] = (p.Data[i] + q.Data[i]) / 2
	}
}

// Flip returns the views mirrored left to right.
func Flip(v classifier.Views) classifier.Views {
	f := classifier.Views{}
	for s, x := range v {
		f[s] = flip(x)
	}
	return f
}

// flip returns images [N, H, W, 3] mirrored left to right.
func flip(x *tensor.Tensor) *tensor.Tensor {
	f := x.Clone()
	n, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	for i := 0; i < n; i++ {
		for r := 0; r < h; r++ {
			row := f.Data[((i*h)+r)*w*3 : ((i*h)+r+1)*w*3]
			for c := 0; c < w/2; c++ {
				for k := 0; k < 3; k++ {
					row[3*c+k], row[3*(w-1-c)+k] = row[3*(w-1-c)+k], row[3*c+k]
				}
			}
		}
	}
	return f
}
