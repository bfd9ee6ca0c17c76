package keras

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/h5"
	"trashsort/nn"
	"trashsort/tensor"
)

func small(t *testing.T, backbone string, size int) *classifier.Classifier {
	t.Helper()
	clf, err := classifier.New(classifier.Meta{Backbone: backbone, Size: size, Classes: []string{"cardboard", "glass", "metal"}, Head: classifier.Head{Units: 16, Dropout: 0.2}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	clf.Model.InitWeights(7)
	// BatchNormalization's statistics away from 0 and 1, so that every
	// weight shows in the output.
	r := rand.New(rand.NewPCG(5, 6))
	for _, l := range clf.Model.Layers {
		if _, ok := l.(*nn.BatchNormalization); !ok {
			continue
		}
		for _, p := range l.Params() {
			for i := range p.Value.Data {
				switch p.Name {
				case "moving_variance", "gamma":
					p.Value.Data[i] = 0.5 + r.Float32()
				default:
					p.Value.Data[i] = 0.2 * (r.Float32() - 0.5)
				}
			}
			p.Touch()
		}
	}
	clf.Meta.Calibration = &calibrate.Calibration{Temperature: 1.7, MinConfidence: 0.6}
	return clf
}

func pixels(n, s int, seed uint64) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 4))
	x := tensor.New(n, s, s, 3)
	for i := range x.Data {
		x.Data[i] = float32(r.IntN(256))
	}
	return x
}

// compare returns the largest absolute difference and the number of images
// whose top-1 class differs.
func compare(a, b []float32, k int) (float64, int) {
	var maxDiff float64
	disagree := 0
	for i := 0; i+k <= len(a); i += k {
		for j := i; j < i+k; j++ {
			maxDiff = max(maxDiff, math.Abs(float64(a[j]-b[j])))
		}
		if tensor.Argmax(a[i:i+k]) != tensor.Argmax(b[i:i+k]) {
			disagree++
		}
	}
	return maxDiff, disagree
}

func predict(t *testing.T, clf *classifier.Classifier, x *tensor.Tensor) []float32 {
	t.Helper()
	p, err := clf.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	return p.Data
}

// TestH5Layout checks the file against Keras' layout with our own reader:
// root attributes, model_config's graph, layer_names and weight_names.
func TestH5Layout(t *testing.T) {
	clf := small(t, "mobilenet_v2_035", 64)
	path := filepath.Join(t.TempDir(), "m.h5")
	if err := WriteH5(path, clf, Options{Preprocessing: true}); err != nil {
		t.Fatal(err)
	}
	f, err := h5.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	attr := func(obj, name string) string {
		s, err := f.Strings(obj, name)
		if err != nil || len(s) != 1 {
			t.Fatalf("%s %s: %q %v", obj, name, s, err)
		}
		return s[0]
	}
	if attr("/", "keras_version") != KerasVersion || attr("/", "backend") != "tensorflow" || attr("model_weights", "backend") != "tensorflow" {
		t.Error("keras_version or backend")
	}
	var cfg struct {
		ClassName string `json:"class_name"`
		Config    struct {
			Layers []struct {
				ClassName string          `json:"class_name"`
				Name      string          `json:"name"`
				Config    json.RawMessage `json:"config"`
				Inbound   [][][]any       `json:"inbound_nodes"`
			} `json:"layers"`
			InputLayers  [][]any `json:"input_layers"`
			OutputLayers [][]any `json:"output_layers"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(attr("/", "model_config")), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ClassName != "Functional" || cfg.Config.InputLayers[0][0] != "input_1" || cfg.Config.OutputLayers[0][0] != "dense_1" {
		t.Errorf("model_config %s inputs %v outputs %v", cfg.ClassName, cfg.Config.InputLayers, cfg.Config.OutputLayers)
	}
	names, err := f.Strings("model_weights", "layer_names")
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	seen := map[string]bool{}
	for i, l := range cfg.Config.Layers {
		classes[l.ClassName]++
		if names[i] != l.Name {
			t.Fatalf("layer %d: model_config %q, layer_names %q", i, l.Name, names[i])
		}
		for _, node := range l.Inbound {
			for _, in := range node {
				if !seen[in[0].(string)] {
					t.Fatalf("layer %s reads %v before it is defined", l.Name, in[0])
				}
			}
		}
		seen[l.Name] = true
	}
	if len(names) != len(clf.Model.Layers)+1 || cfg.Config.Layers[1].ClassName != "Rescaling" || cfg.Config.Layers[2].Inbound[0][0][0] != "rescaling" {
		t.Errorf("%d layers for %d, second %s", len(names), len(clf.Model.Layers), cfg.Config.Layers[1].ClassName)
	}
	for _, c := range []string{"InputLayer", "Rescaling", "ZeroPadding2D", "Conv2D", "BatchNormalization", "ReLU", "DepthwiseConv2D", "Add", "GlobalAveragePooling2D", "Dense", "Dropout"} {
		if classes[c] == 0 {
			t.Errorf("no %s layer in %v", c, classes)
		}
	}
	wn, err := f.Strings("model_weights/Conv1", "weight_names")
	if err != nil || strings.Join(wn, ",") != "Conv1/kernel:0" {
		t.Errorf("Conv1 weight_names %q %v", wn, err)
	}
	if shape, err := f.Shape("model_weights/Conv1/Conv1/kernel:0"); err != nil || !tensor.SameShape(shape, []int{3, 3, 3, 16}) {
		t.Errorf("Conv1 kernel %v %v", shape, err)
	}
	if wn, err := f.Strings("model_weights/bn_Conv1", "weight_names"); err != nil || strings.Join(wn, ",") != "bn_Conv1/gamma:0,bn_Conv1/beta:0,bn_Conv1/moving_mean:0,bn_Conv1/moving_variance:0" {
		t.Errorf("bn_Conv1 weight_names %q %v", wn, err)
	}
	var in Info
	if err := json.Unmarshal([]byte(attr("/", "trashsort")), &in); err != nil {
		t.Fatal(err)
	}
	if in.Format != InfoFormat || strings.Join(in.Classes, ",") != "cardboard,glass,metal" || !in.PreprocessingInModel || !in.TemperatureInModel || in.Temperature != 1.7 || in.MinConfidence != 0.6 || in.InputSize != 64 {
		t.Errorf("info %+v", in)
	}
}

// TestRoundTrip writes a model as .h5 and as TensorFlow.js and reads it
// back through classifier.Load (what eval --model file.h5 does): the same
// predictions, calibration and classes, with and without the temperature
// folded in.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		backbone string
		size     int
		o        Options
		tfjs     bool
	}{
		{"mobilenet_v2_035", 64, Options{}, false},
		{"mobilenet_v2_035", 64, Options{Preprocessing: true, Uncalibrated: true}, false},
		{"mobilenet_v2_035", 64, Options{}, true},
		{"inception_v3", 75, Options{}, false},
	} {
		backbone, o := c.backbone, c.o
		clf := small(t, backbone, c.size)
		x := pixels(3, c.size, 1)
		want := predict(t, clf, x)
		{
			path := filepath.Join(t.TempDir(), "m.h5")
			write := func() error { return WriteH5(path, clf, o) }
			if c.tfjs {
				path = filepath.Join(filepath.Dir(path), ModelJSON)
				write = func() error { return WriteTFJS(filepath.Dir(path), clf, o) }
			}
			if err := write(); err != nil {
				t.Fatal(err)
			}
			back, err := classifier.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.Temperature() != 1.7 || back.MinConfidence() != 0.6 || strings.Join(back.Meta.Classes, ",") != "cardboard,glass,metal" {
				t.Errorf("%s %+v: meta %+v", backbone, o, back.Meta)
			}
			got := predict(t, back, x)
			if d, dis := compare(want, got, 3); d > 1e-6 || dis != 0 {
				t.Errorf("%s %+v: max difference %.2e, %d disagreements", backbone, o, d, dis)
			}
		}
	}
}

// TestLoadRefusesWeightFile: a Keras weight file is not a model.
func TestLoadRefusesWeightFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.h5")
	f, err := h5.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteStrings("/", "layer_names", []string{"input_1"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := classifier.Load(p); err == nil || !strings.Contains(err.Error(), "without trashsort's metadata") {
		t.Errorf("loaded a weight file as a model: %v", err)
	}
}
