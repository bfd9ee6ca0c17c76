package train

import (
	"context"
	"fmt"

	"trashsort/calibrate"
	"trashsort/tensor"
)

// calibrate fits the temperature and the "unsure" threshold on the
// validation split with the model's current (best) weights and stores them
// in the model's metadata.
func (t *trainer) calibrate(ctx context.Context) error {
	probs, labels, err := t.valPredictions(ctx)
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	c, err := calibrate.Fit(probs, labels, len(t.clf.Meta.Classes), 0)
	if err != nil {
		return fmt.Errorf("calibration on the validation split: %w", err)
	}
	t.clf.Meta.Calibration = &c
	if t.cfg.Progress != nil {
		fmt.Fprintf(t.cfg.Progress, "calibration on val: temperature %.3f, ECE %.4f -> %.4f; unsure below %.3f (answers %.1f%% at %.2f%% accuracy)\n",
			c.Temperature, c.ECEBefore, c.ECEAfter, c.MinConfidence, 100*c.Coverage, 100*c.AnsweredAccuracy)
	}
	return nil
}

// valPredictions returns the model's raw probabilities on the validation
// split, from the cached activations where there are any (the layers below
// the cache are never trained, so they are still valid).
func (t *trainer) valPredictions(ctx context.Context) ([]float32, []int, error) {
	var probs []float32
	var labels []int
	if t.cfg.CacheFeatures >= 0 {
		store, feed := t.v1, t.gapIdx
		if t.v2 != nil {
			store, feed = t.v2, t.boundary
		}
		n := t.valL.Len()
		for lo := 0; lo < n; lo += t.cfg.Batch {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			var idx []int
			for i := lo; i < min(lo+t.cfg.Batch, n); i++ {
				idx = append(idx, i)
				labels = append(labels, t.valL.Dataset().Items[i].Label)
			}
			x, err := store.gather(0, idx)
			if err != nil {
				return nil, nil, err
			}
			outs, err := t.m.Run(map[int]*tensor.Tensor{feed: x}, []int{t.m.Output}, false)
			if err != nil {
				return nil, nil, err
			}
			probs = append(probs, outs[0].Data...)
		}
		return probs, labels, nil
	}
	ch, errf := t.valL.Epoch(ctx, 0)
	for b := range ch {
		p, err := t.clf.PredictRaw(b.X)
		if err != nil {
			for range ch {
			}
			return nil, nil, err
		}
		probs = append(probs, p.Data...)
		labels = append(labels, b.Labels...)
	}
	return probs, labels, errf()
}
