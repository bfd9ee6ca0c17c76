package models

import (
	"math"
	"strings"
	"testing"
)

// TestPreprocessingModes checks each mode on one pixel against the values
// keras.applications.imagenet_utils.preprocess_input gives.
func TestPreprocessingModes(t *testing.T) {
	px := []float32{255, 128, 0, 10, 20, 30}
	cases := []struct {
		mode Preprocessing
		want []float32
	}{
		{PreprocessTF, []float32{1, 128/127.5 - 1, -1, 10/127.5 - 1, 20/127.5 - 1, 30/127.5 - 1}},
		// BGR order, minus [103.939, 116.779, 123.68].
		{PreprocessCaffe, []float32{0 - 103.939, 128 - 116.779, 255 - 123.68, 30 - 103.939, 20 - 116.779, 10 - 123.68}},
		{PreprocessTorch, []float32{(1 - 0.485) / 0.229, (128.0/255 - 0.456) / 0.224, (0 - 0.406) / 0.225,
			(10.0/255 - 0.485) / 0.229, (20.0/255 - 0.456) / 0.224, (30.0/255 - 0.406) / 0.225}},
		{PreprocessNone, []float32{255, 128, 0, 10, 20, 30}},
	}
	for _, tc := range cases {
		if err := tc.mode.Validate(); err != nil {
			t.Fatal(err)
		}
		x := append([]float32(nil), px...)
		tc.mode.Apply(x)
		for i := range x {
			if math.Abs(float64(x[i]-tc.want[i])) > 1e-5*math.Max(1, math.Abs(float64(tc.want[i]))) {
				t.Errorf("%s: value %d is %g, want %g", tc.mode, i, x[i], tc.want[i])
			}
		}
	}
	for _, bad := range []Preprocessing{"", "TF", "bgr", "rescale"} {
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "unknown preprocessing") {
			t.Errorf("%q: got %v, want an unknown-preprocessing error", bad, err)
		}
	}
}

// TestRegistryEntries checks that every backbone carries what the rest of
// the program asks of it, and that the named layers exist.
func TestRegistryEntries(t *testing.T) {
	for _, name := range Names() {
		s, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.check(); err != nil {
			t.Error(err)
		}
		m := build(t, name, Options{Size: s.MinSize})
		for _, l := range []string{s.FeatureLayer, s.FineTuneFrom, s.LastConvLayer} {
			if m.Index(l) < 0 {
				t.Errorf("%s: no layer %q", name, l)
			}
		}
		if last := m.Layers[len(m.Layers)-1].Base().Name(); last != s.FeatureLayer {
			t.Errorf("%s: last layer %q, feature layer %q", name, last, s.FeatureLayer)
		}
		if !strings.HasSuffix(s.NoTop.URL, "/"+s.NoTop.File) {
			t.Errorf("%s: URL %s does not end in the file name %s", name, s.NoTop.URL, s.NoTop.File)
		}
	}
	if d, err := Get(Default()); err != nil || !d.Default {
		t.Errorf("default backbone %q: %v", Default(), err)
	}
	if _, err := Get("resnet51"); err == nil || !strings.Contains(err.Error(), "inception_v3") {
		t.Errorf("unknown backbone: got %v, want an error listing the known ones", err)
	}
	for _, bad := range []Spec{{}, {Name: "x"}, {Name: "X", Builder: mobileNetV2Graph}} {
		if bad.check() == nil {
			t.Errorf("%+v passed the registry's check", bad)
		}
	}
}
