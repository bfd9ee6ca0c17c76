package predict

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
	"trashsort/tensor"
)

// untrained is a small model with random weights on two class folders of
// three photos each and one unreadable file.
func untrained(t *testing.T) (*data.Dataset, *classifier.Classifier) {
	t.Helper()
	root := t.TempDir()
	testimages.ClassFolders(t, root, []string{"glass", "paper"}, 3)
	if err := os.WriteFile(filepath.Join(root, "paper", "broken.jpg"), []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := data.FromFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: ds.Classes, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	clf.Model.InitWeights(5)
	return ds, clf
}

// TestDataset compares a pass over a dataset, at two batch sizes, with and
// without the flip and the outputs, with the model run on all the images
// in one batch by hand.
func TestDataset(t *testing.T) {
	ds, clf := untrained(t)
	l, err := data.NewLoader(ds, data.Config{Size: 64, BatchSize: len(ds.Items)})
	if err != nil {
		t.Fatal(err)
	}
	var all data.Batch
	for b, err := range l.All(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		all = b
	}
	plain, err := clf.PredictViews(all.Images())
	if err != nil {
		t.Fatal(err)
	}
	flipped, err := clf.PredictViews(Flip(all.Images()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"batches of 4", Options{Batch: 4}},
		{"default batch", Options{}},
		{"flip", Options{Batch: 4, TTA: true}},
		{"outputs", Options{Batch: 2, Outputs: true}},
		{"outputs and flip", Options{Batch: 4, TTA: true, Outputs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Dataset(context.Background(), clf, ds, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Images() != 6 || r.Skipped != 1 || r.Classes != 2 || len(r.Probs) != 12 || len(r.Paths) != 6 {
				t.Fatalf("%d images, %d skipped, %d classes, %d probabilities, %d paths; want 6, 1, 2, 12, 6", r.Images(), r.Skipped, r.Classes, len(r.Probs), len(r.Paths))
			}
			for i, it := range all.Items {
				if r.Labels[i] != all.Labels[i] || r.Paths[i] != ds.Items[it].Path {
					t.Fatalf("image %d: label %d path %s; want %d and %s", i, r.Labels[i], r.Paths[i], all.Labels[i], ds.Items[it].Path)
				}
			}
			for i, p := range r.Probs {
				want := plain.Data[i]
				if tc.o.TTA {
					want = (plain.Data[i] + flipped.Data[i]) / 2
				}
				if math.Abs(float64(p-want)) > 1e-4 {
					t.Fatalf("probability %d: %g, by hand %g", i, p, want)
				}
			}
			if tc.o.Outputs != (len(r.Logits) == 12 && r.Dim > 0 && len(r.Features) == 6*r.Dim) {
				t.Errorf("outputs %v: %d logits, %d features of %d", tc.o.Outputs, len(r.Logits), len(r.Features), r.Dim)
			}
		})
	}
}

// TestFlip mirrors a 1x3 image and back.
func TestFlip(t *testing.T) {
	x := &tensor.Tensor{Shape: []int{1, 1, 3, 3}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	f := Flip(classifier.Views{3: x})[3]
	want := []float32{7, 8, 9, 4, 5, 6, 1, 2, 3}
	for i := range want {
		if f.Data[i] != want[i] {
			t.Fatalf("flipped %v, want %v", f.Data, want)
		}
	}
	if x.Data[0] != 1 {
		t.Error("Flip changed its input")
	}
}
