package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"trashsort/classifier"
	"trashsort/data"
)

// Fold is one fold of a cross-validation: what it trained on, what it
// scored, and the score.
type Fold struct {
	Train, Test *data.Dataset
	Score       float64
}

// CrossValidate estimates what training on ds buys when ds is small (a
// site's ten photos a class): ds is split into k stratified folds, and for
// each fold a model is trained on the other k-1 (a final fit: too few
// photos to hold any out) and scored on that fold by score. cfg.Out and
// cfg.LogDir are ignored; each fold's model lives in a temporary folder.
// It returns the folds and the mean and standard deviation of the scores.
func CrossValidate(ctx context.Context, cfg Config, ds *data.Dataset, k int, weightsPath string, score func(context.Context, *classifier.Classifier, *data.Dataset) (float64, error)) ([]Fold, float64, float64, error) {
	idx, err := data.StratifiedFolds(ds, k, cfg.Seed)
	if err != nil {
		return nil, 0, 0, err
	}
	dir, err := os.MkdirTemp("", "trashsort-folds-")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("folds: %w", err)
	}
	defer os.RemoveAll(dir)
	var folds []Fold
	for i := range idx {
		var rest []int
		for j, f := range idx {
			if j != i {
				rest = append(rest, f...)
			}
		}
		f := Fold{Train: ds.Select(rest), Test: ds.Select(idx[i])}
		fc := cfg
		fc.FinalFit, fc.EarlyStopping, fc.ReducePatience = true, 0, 0
		fc.Out, fc.LogDir, fc.Checkpoint, fc.Resume = filepath.Join(dir, fmt.Sprintf("fold%d.safetensors", i+1)), "", "", false
		res, err := Fit(ctx, fc, f.Train, f.Train, weightsPath)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("fold %d of %d: %w", i+1, k, err)
		}
		if f.Score, err = score(ctx, res.Classifier, f.Test); err != nil {
			return nil, 0, 0, fmt.Errorf("fold %d of %d: %w", i+1, k, err)
		}
		folds = append(folds, f)
	}
	mean, sd := 0.0, 0.0
	for _, f := range folds {
		mean += f.Score / float64(len(folds))
	}
	for _, f := range folds {
		sd += (f.Score - mean) * (f.Score - mean) / float64(max(len(folds)-1, 1))
	}
	return folds, mean, math.Sqrt(sd), nil
}
