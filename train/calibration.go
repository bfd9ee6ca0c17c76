package train

import (
	"context"
	"fmt"

	"trashsort/classifier"
	"trashsort/tensor"
)

// calibrate fits the temperature and the "unsure" threshold on the
// validation split with the model's current (best) weights and stores them
// in the model's metadata, with the statistics of the split's pooled
// features from the same pass.
func (t *trainer) calibrate(ctx context.Context) error {
	probs, labels, fm, err := t.valPredictions(ctx)
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	c, err := t.clf.Recalibrate(probs, labels, 0)
	if err != nil {
		return fmt.Errorf("calibration on the validation split: %w", err)
	}
	if t.cfg.Progress != nil {
		fmt.Fprintf(t.cfg.Progress, "calibration on val: temperature %.3f, ECE %.4f -> %.4f; unsure below %.3f (answers %.1f%% at %.2f%% accuracy)\n",
			c.Temperature, c.ECEBefore, c.ECEAfter, c.MinConfidence, 100*c.Coverage, 100*c.AnsweredAccuracy)
	}
	return t.storeSourceFeatures(fm)
}

// valPredictions returns the model's raw probabilities on the validation
// split and the moments of its pooled features, from the cached
// activations where there are any (the layers below the cache are never
// trained, so they are still valid). It is not predict.Dataset: it feeds
// the stored activations where training validated on them, and runs at the
// training size alone, whatever test sizes the model will predict at.
func (t *trainer) valPredictions(ctx context.Context) ([]float32, []int, *classifier.FeatureMoments, error) {
	var probs []float32
	var labels []int
	var fm classifier.FeatureMoments
	stage := 1
	if t.cfg.Epochs2 > 0 {
		stage = 2
	}
	feed := t.src.feed(stage)
	err := t.src.val(ctx, stage, func(x *tensor.Tensor, ys []int) error {
		outs, err := t.m.Run(map[int]*tensor.Tensor{feed: x}, []int{t.gapIdx, t.m.Output}, false)
		if err != nil {
			return err
		}
		fm.Add(outs[0].Data, len(ys))
		probs = append(probs, outs[1].Data...)
		labels = append(labels, ys...)
		return nil
	})
	return probs, labels, &fm, err
}

// storeSourceFeatures records the per-channel mean and standard deviation
// of the validation images' pooled features (the training images' in a
// final fit, which has no validation split) in the model, for adapt.Align.
func (t *trainer) storeSourceFeatures(fm *classifier.FeatureMoments) error {
	if fm.N < 2 {
		return nil
	}
	mean, std := fm.MeanStd()
	split := "val"
	if t.cfg.FinalFit {
		split = "train"
	}
	return t.clf.SetSourceFeatures(mean, std, classifier.SourceFeatures{Images: fm.N, Split: split})
}
