package models

import (
	"fmt"
	"strings"
)

// Preprocessing names how raw RGB pixel values in [0, 255] are mapped to a
// backbone's input, as keras.applications' preprocess_input modes do.
type Preprocessing string

// The modes of keras.applications.imagenet_utils.preprocess_input, and
// "none" for models that rescale inside (EfficientNet).
const (
	// PreprocessTF maps x to x/127.5 - 1 (InceptionV3, MobileNetV2).
	PreprocessTF Preprocessing = "tf"
	// PreprocessCaffe reverses RGB to BGR and subtracts the ImageNet channel
	// means, without scaling (ResNet50, VGG).
	PreprocessCaffe Preprocessing = "caffe"
	// PreprocessTorch maps x to (x/255 - mean) / std with the ImageNet RGB
	// means and standard deviations (DenseNet).
	PreprocessTorch Preprocessing = "torch"
	// PreprocessNone leaves the pixels as they are.
	PreprocessNone Preprocessing = "none"
)

// Preprocessings lists the valid modes.
var Preprocessings = []Preprocessing{PreprocessTF, PreprocessCaffe, PreprocessTorch, PreprocessNone}

var (
	caffeMeanBGR = [3]float32{103.939, 116.779, 123.68}
	torchMean    = [3]float32{0.485, 0.456, 0.406}
	torchStd     = [3]float32{0.229, 0.224, 0.225}
)

// Validate reports an unknown mode.
func (p Preprocessing) Validate() error {
	for _, q := range Preprocessings {
		if p == q {
			return nil
		}
	}
	names := make([]string, len(Preprocessings))
	for i, q := range Preprocessings {
		names[i] = string(q)
	}
	return fmt.Errorf("unknown preprocessing %q (known: %s)", string(p), strings.Join(names, ", "))
}

// Apply maps x, interleaved RGB pixels (NHWC with 3 channels) in [0, 255],
// to the model's input, in place. The mode must be valid.
func (p Preprocessing) Apply(x []float32) {
	switch p {
	case PreprocessTF:
		for i := range x {
			x[i] = x[i]/127.5 - 1
		}
	case PreprocessCaffe:
		for i := 0; i+2 < len(x); i += 3 {
			r, b := x[i], x[i+2]
			x[i] = b - caffeMeanBGR[0]
			x[i+1] -= caffeMeanBGR[1]
			x[i+2] = r - caffeMeanBGR[2]
		}
	case PreprocessTorch:
		for i := range x {
			c := i % 3
			x[i] = (x[i]/255 - torchMean[c]) / torchStd[c]
		}
	}
}
