package predict_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/predict"
)

// writePhotos fills root with a class folder per class holding n small
// flat-coloured JPEGs, a stand-in for a folder of photos.
func writePhotos(root string, classes []string, n int) error {
	for c, class := range classes {
		if err := os.MkdirAll(filepath.Join(root, class), 0o755); err != nil {
			return err
		}
		for i := range n {
			img := &data.RGB{W: 48, H: 48, Pix: make([]byte, 48*48*3)}
			for p := range img.Pix {
				img.Pix[p] = byte(40*c + 20*i + p%3*60)
			}
			f, err := os.Create(filepath.Join(root, class, fmt.Sprintf("%d.jpg", i)))
			if err != nil {
				return err
			}
			err = img.Encode(f, 90)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Predicting a folder of photos: a row of probabilities per readable
// image, in the dataset's order, with its label and file; a file that
// cannot be decoded is counted in Skipped, not fatal. The model here has
// random weights, so only the shape of the result is shown.
func ExampleDataset() {
	root, err := os.MkdirTemp("", "predict-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	classes := []string{"glass", "paper"}
	if err := writePhotos(root, classes, 2); err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(root, "paper", "broken.jpg"), []byte("not a photo"), 0o644); err != nil {
		panic(err)
	}
	ds, err := data.FromFolder(root, nil)
	if err != nil {
		panic(err)
	}
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: classes, Head: classifier.Head{Units: 16}}, 1)
	if err != nil {
		panic(err)
	}

	r, err := predict.Dataset(context.Background(), clf, ds, predict.Options{Batch: 4})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d images, %d classes, %d skipped\n", r.Images(), r.Classes, r.Skipped)
	for i, path := range r.Paths {
		rel, _ := filepath.Rel(root, path)
		p := r.Probs[i*r.Classes : (i+1)*r.Classes]
		fmt.Printf("%s label %s, probabilities sum to %.2f\n", filepath.ToSlash(rel), classes[r.Labels[i]], p[0]+p[1])
	}
	// Output:
	// 4 images, 2 classes, 1 skipped
	// glass/0.jpg label glass, probabilities sum to 1.00
	// glass/1.jpg label glass, probabilities sum to 1.00
	// paper/0.jpg label paper, probabilities sum to 1.00
	// paper/1.jpg label paper, probabilities sum to 1.00
}
