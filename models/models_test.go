package models

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"trashsort/h5"
	"trashsort/internal/shared"
	"trashsort/nn"
	"trashsort/tensor"
)

func build(t *testing.T, name string, o Options) *nn.Model {
	t.Helper()
	s, err := Get(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestArchitectures(t *testing.T) {
	cases := []struct {
		model             string
		size              int
		layers, params    int
		checks            map[int]string
		out               []int
		trainable, frozen int
	}{
		{"inception_v3", 299, 311, 21802784, map[int]string{0: "input_1", 248: "mixed8", 249: "conv2d_81", 310: "mixed10"}, []int{8, 8, 2048}, 21768352, 34432},
		{"inception_v3", 224, 311, 21802784, nil, []int{5, 5, 2048}, 0, 0},
		{"mobilenet_v2_035", 224, 155, 410208, map[int]string{0: "input_1", 154: "out_relu"}, []int{7, 7, 1280}, 0, 0},
	}
	for _, tc := range cases {
		m := build(t, tc.model, Options{Size: tc.size})
		if len(m.Layers) != tc.layers {
			t.Errorf("%s: %d layers, want %d", tc.model, len(m.Layers), tc.layers)
		}
		total, tr, nt := m.ParamCounts()
		if total != tc.params {
			t.Errorf("%s: %d params, want %d", tc.model, total, tc.params)
		}
		if tc.trainable > 0 && (tr != tc.trainable || nt != tc.frozen) {
			t.Errorf("%s: trainable %d non-trainable %d, want %d and %d", tc.model, tr, nt, tc.trainable, tc.frozen)
		}
		for i, name := range tc.checks {
			if got := m.Layers[i].Base().Name(); got != name {
				t.Errorf("%s: layer %d is %q, want %q", tc.model, i, got, name)
			}
		}
		if !tensor.SameShape(m.OutputShape(), tc.out) {
			t.Errorf("%s: output %v, want %v", tc.model, m.OutputShape(), tc.out)
		}
	}
}

func TestTopAndPooling(t *testing.T) {
	m := build(t, "inception_v3", Options{Size: 299, IncludeTop: true, Classes: 1000})
	if total, _, _ := m.ParamCounts(); total != 23851784 {
		t.Errorf("with top: %d params, want 23,851,784 (Keras)", total)
	}
	for _, pool := range []string{"avg", "max"} {
		m := build(t, "mobilenet_v2", Options{Size: 96, Pooling: pool})
		if !tensor.SameShape(m.OutputShape(), []int{1280}) {
			t.Errorf("pooling %s: output %v", pool, m.OutputShape())
		}
	}
	if _, err := InceptionV3(Options{Size: 74}); err == nil {
		t.Error("want error for a 74 px InceptionV3")
	}
}

// The layer order must be Keras' model.layers order, which the weight
// files record in layer_names.
func TestLayerOrderMatchesKerasFiles(t *testing.T) {
	for _, tc := range []struct{ model, file string }{
		{"inception_v3", "weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"},
		{"mobilenet_v2_035", "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"},
	} {
		path := shared.Path(t, tc.file)
		f, err := h5.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		names, err := f.Strings("/", "layer_names")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := build(t, tc.model, Options{})
		if len(names) != len(m.Layers) {
			t.Fatalf("%s: file has %d layers, model %d", tc.model, len(names), len(m.Layers))
		}
		for i, n := range names {
			if got := m.Layers[i].Base().Name(); got != n {
				t.Errorf("%s: layer %d is %q, Keras has %q", tc.model, i, got, n)
			}
		}
	}
}

func readF32(t *testing.T, path string, n int) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*n {
		t.Fatalf("%s: %d bytes, want %d", path, len(b), 4*n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

type refSpec struct {
	Input struct {
		File  string `json:"file"`
		Shape []int  `json:"shape"`
	} `json:"input"`
	Outputs []struct {
		Layer string `json:"layer"`
		File  string `json:"file"`
		Shape []int  `json:"shape"`
	} `json:"outputs"`
}

// TestParityWithReference compares activations with TensorFlow.js's for the
// same weight files and inputs: max-abs error over max-abs value <= 1e-3.
func TestParityWithReference(t *testing.T) {
	for _, tc := range []struct{ model, json, weights string }{
		{"inception_v3", "reference/inception_v3.json", "weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"},
		{"mobilenet_v2_035", "reference/mobilenet_v2_035.json", "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			jp := shared.Path(t, tc.json)
			wp := shared.Path(t, tc.weights)
			raw, err := os.ReadFile(jp)
			if err != nil {
				t.Fatal(err)
			}
			var spec refSpec
			if err := json.Unmarshal(raw, &spec); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Dir(jp)
			m := build(t, tc.model, Options{Size: spec.Input.Shape[1]})
			start := time.Now()
			if err := LoadKerasWeights(m, wp); err != nil {
				t.Fatal(err)
			}
			t.Logf("loaded %s in %v", filepath.Base(wp), time.Since(start))
			x := &tensor.Tensor{Shape: spec.Input.Shape, Data: readF32(t, filepath.Join(dir, spec.Input.File), tensor.Numel(spec.Input.Shape))}
			var idx []int
			for _, o := range spec.Outputs {
				i := m.Index(o.Layer)
				if i < 0 {
					t.Fatalf("no layer %q", o.Layer)
				}
				idx = append(idx, i)
			}
			outs, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, idx, false)
			if err != nil {
				t.Fatal(err)
			}
			for k, o := range spec.Outputs {
				want := readF32(t, filepath.Join(dir, o.File), tensor.Numel(o.Shape))
				if !tensor.SameShape(outs[k].Shape, o.Shape) {
					t.Fatalf("%s: shape %v, want %v", o.Layer, outs[k].Shape, o.Shape)
				}
				e := tensor.RelErr(outs[k].Data, want)
				t.Logf("%s: rel err %.2e", o.Layer, e)
				if e > 1e-3 {
					t.Errorf("%s: rel err %g > 1e-3", o.Layer, e)
				}
			}
		})
	}
}

func TestWeightLoadingErrors(t *testing.T) {
	wp := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	// Wrong width: shapes differ, and the error names layer and shapes.
	m := build(t, "mobilenet_v2_05", Options{Size: 96})
	err := LoadKerasWeights(m, wp)
	if err == nil || !strings.Contains(err.Error(), `layer "block_1_project"`) || !strings.Contains(err.Error(), "expected shape [1 1 48 16], found [1 1 48 8]") {
		t.Errorf("got %v, want a shape error naming the layer and both shapes", err)
	}
	// Wrong model: the file has layers the model lacks.
	m = build(t, "inception_v3", Options{Size: 75})
	if err := LoadKerasWeights(m, wp); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("got %v, want an error about extra layers", err)
	}
	// Truncated and corrupt files.
	dir := t.TempDir()
	data, err := os.ReadFile(wp)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"truncated.h5": data[:len(data)/2],
		"header.h5":    data[:4096],
		"empty.h5":     nil,
		"text.h5":      []byte("this is not hdf5"),
		"flipped.h5":   flip(data),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		m := build(t, "mobilenet_v2_035", Options{Size: 96})
		err := LoadKerasWeights(m, p)
		if err == nil {
			t.Errorf("%s: loaded without error", name)
			continue
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

// flip corrupts bytes in the middle of the file (the weight data and heaps).
func flip(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := 1000; i < len(c); i += 997 {
		c[i] ^= 0xff
	}
	return c
}

// TestKerasSummaries compares the backbones with Keras' own summary() at
// 224 px, line by line: index, name, class, output shape, parameters and
// inbound layers.
func TestKerasSummaries(t *testing.T) {
	for _, tc := range []struct {
		model, file string
		adjust      func([]shared.SummaryRow) []shared.SummaryRow
	}{
		{"resnet50", "resnet50.txt", nil},
		// The reference predates current Keras' rescaling_1 (see its README).
		{"efficientnet_b0", "efficientnetb0.txt", func(rows []shared.SummaryRow) []shared.SummaryRow {
			return shared.InsertAfter(rows, "normalization", shared.SummaryRow{Name: "rescaling_1", Class: "Rescaling", Shape: "(None, 224, 224, 3)"})
		}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			want := shared.KerasSummary(t, tc.file)
			if tc.adjust != nil {
				want = tc.adjust(want)
			}
			var b strings.Builder
			if err := build(t, tc.model, Options{Size: 224}).Summary(&b); err != nil {
				t.Fatal(err)
			}
			shared.CompareSummaries(t, shared.ParseSummary(t, b.String()), want)
		})
	}
}
