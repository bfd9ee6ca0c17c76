package evaluate

import (
	"bytes"
	"encoding/base64"
	"image/jpeg"
	"slices"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/explain"
	"trashsort/tensor"
)

// explainMistakes adds to each mistake the Grad-CAM overlay of the
// predicted class on its thumbnail. Images that cannot be read again keep
// no overlay.
func explainMistakes(clf *classifier.Classifier, ms []Mistake) error {
	size := clf.Meta.Size
	for i := range ms {
		img, err := data.DecodeFile(ms[i].Path)
		if err != nil {
			continue
		}
		in := data.Resize(img, size, size, clf.Meta.Resize)
		x := &tensor.Tensor{Shape: []int{1, size, size, 3}, Data: in.AppendFloats(nil)}
		maps, err := explain.GradCAM(clf, x, slices.Index(clf.Meta.Classes, ms[i].Predicted))
		if err != nil {
			return err
		}
		th := data.Resize(img, thumbWidth, thumbWidth*img.H/max(img.W, 1), data.Bilinear)
		var b bytes.Buffer
		if err := jpeg.Encode(&b, explain.Overlay(th, &maps[0]), &jpeg.Options{Quality: 80}); err != nil {
			return err
		}
		ms[i].overlay = "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
	}
	return nil
}
