package train_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/train"
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
				img.Pix[p] = byte(90*c + 10*i + p%3*40)
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

// Training a classifier on class folders: one epoch of the head on a
// randomly initialized MobileNetV2 0.35 at 64 px (pass the backbone's
// ImageNet weight file instead of "" for transfer learning). Fit keeps
// the best epoch, calibrates it on the validation set and saves it to
// Out, which classifier.Load reads back.
func ExampleFit() {
	dir, err := os.MkdirTemp("", "train-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	classes := []string{"glass", "paper"}
	for _, split := range []string{"train", "val"} {
		if err := writePhotos(filepath.Join(dir, "photos", split), classes, 4); err != nil {
			panic(err)
		}
	}
	trainSet, valSet, err := data.FromSplitFolders(filepath.Join(dir, "photos"))
	if err != nil {
		panic(err)
	}
	cfg := train.Config{
		Backbone: "mobilenet_v2_035", Size: 64, Batch: 4, Head: classifier.Head{Units: 16},
		Epochs1: 1, Seed: 1, Out: filepath.Join(dir, "model.safetensors"),
	}

	res, err := train.Fit(context.Background(), cfg, trainSet, valSet, "")
	if err != nil {
		panic(err)
	}
	clf, err := classifier.Load(cfg.Out)
	if err != nil {
		panic(err)
	}
	m := clf.Meta
	fmt.Println(len(res.History), "epoch;", m.Summary.TrainImages, "train and", m.Summary.ValImages, "val images")
	fmt.Println(m.Backbone, m.Size, m.Classes, "calibrated:", m.Calibration != nil)
	// Output:
	// 1 epoch; 8 train and 8 val images
	// mobilenet_v2_035 64 [glass paper] calibrated: true
}
