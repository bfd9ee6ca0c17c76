package train

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"trashsort/classifier"
)

// Fine-tuning from a model file starts from its weights: with no epochs
// the backbone and the head come back unchanged, the output layer starts
// afresh for other classes, and a final fit on one set keeps the starting
// model's calibration.
func TestFromModel(t *testing.T) {
	tr, va, w := subsets(t, 6, 3)
	dir := t.TempDir()
	cfg := smallConfig(dir)
	cfg.Size, cfg.Epochs1, cfg.Epochs2, cfg.CacheFeatures = 64, 1, 0, 1
	first, err := Fit(context.Background(), cfg, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	if first.Classifier.Meta.Calibration == nil {
		t.Fatal("the starting model is not calibrated")
	}
	start := classifier.Tensors(first.Classifier.Model)

	ft := cfg
	ft.FromModel, ft.Out, ft.LogDir = cfg.Out, filepath.Join(dir, "ft.safetensors"), ""
	ft.Backbone, ft.Size, ft.Epochs1, ft.FinalFit = "", 0, 0, true // taken from the model
	res, err := Fit(context.Background(), ft, tr, tr, "")
	if err != nil {
		t.Fatal(err)
	}
	got := classifier.Tensors(res.Classifier.Model)
	for name, s := range start {
		if !slices.Equal(s.Data, got[name].Data) {
			t.Fatalf("%s differs from the starting model after no epochs", name)
		}
	}
	if n := res.Classifier.Meta.Summary.TrainImages; n != len(tr.Items) {
		t.Fatalf("trained on %d images, want the set once (%d)", n, len(tr.Items))
	}
	if c := res.Classifier.Meta.Calibration; c == nil || c.Temperature != first.Classifier.Meta.Calibration.Temperature {
		t.Fatalf("calibration %+v, want the starting model's", c)
	}

	// Other classes: everything but the output layer carries over.
	tr2, va2 := *tr, *va
	tr2.Classes = append(slices.Clone(tr.Classes[:5]), "other")
	va2.Classes = tr2.Classes
	res, err = Fit(context.Background(), ft, &tr2, &va2, "")
	if err != nil {
		t.Fatal(err)
	}
	got = classifier.Tensors(res.Classifier.Model)
	for name, s := range start {
		same := slices.Equal(s.Data, got[name].Data)
		if strings.HasPrefix(name, "dense_1/") == same && name != "dense_1/bias" {
			t.Fatalf("%s: same %v after starting with other classes", name, same)
		}
	}
}
