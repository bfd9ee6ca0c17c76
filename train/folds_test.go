package train

import (
	"context"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
)

// Cross-validation trains one model per fold and never scores a photo that
// fold trained on; every photo is scored exactly once.
func TestCrossValidateNeverScoresTrainingPhotos(t *testing.T) {
	tr, _, w := subsets(t, 6, 1)
	cfg := smallConfig(t.TempDir())
	cfg.Size, cfg.Epochs1, cfg.Epochs2, cfg.CacheFeatures = 64, 1, 0, 1
	scored := map[string]int{}
	folds, mean, sd, err := CrossValidate(context.Background(), cfg, tr, 3, w, func(_ context.Context, clf *classifier.Classifier, test *data.Dataset) (float64, error) {
		for _, it := range test.Items {
			scored[it.Path]++
		}
		return accuracy(t, clf, test, cfg), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 3 {
		t.Fatalf("%d folds", len(folds))
	}
	for i, f := range folds {
		trained := map[string]bool{}
		for _, it := range f.Train.Items {
			trained[it.Path] = true
		}
		for _, it := range f.Test.Items {
			if trained[it.Path] {
				t.Fatalf("fold %d scored %s, which it trained on", i+1, it.Path)
			}
		}
		if len(f.Train.Items)+len(f.Test.Items) != len(tr.Items) {
			t.Fatalf("fold %d: %d + %d photos of %d", i+1, len(f.Train.Items), len(f.Test.Items), len(tr.Items))
		}
	}
	for _, it := range tr.Items {
		if scored[it.Path] != 1 {
			t.Fatalf("%s scored %d times", it.Path, scored[it.Path])
		}
	}
	if !(mean >= 0 && mean <= 1 && sd >= 0) {
		t.Fatalf("mean %g, sd %g", mean, sd)
	}
}
