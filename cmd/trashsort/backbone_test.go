package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
)

// TestLayersPrintsKerasSummaries compares `trashsort layers --backbone`
// with Keras' own summary() of the backbone at 224 px, every field of every
// layer: index, name, class, output shape, parameters, inbound layers.
func TestLayersPrintsKerasSummaries(t *testing.T) {
	for _, tc := range []struct {
		backbone, file string
		layers         int
		total          string
	}{
		{"resnet50", "resnet50.txt", 175, "23,587,712"},
		{"efficientnet_b0", "efficientnetb0.txt", 238, "4,049,571"},
	} {
		t.Run(tc.backbone, func(t *testing.T) {
			want := shared.KerasSummary(t, tc.file)
			if tc.backbone == "efficientnet_b0" {
				// Current Keras adds rescaling_1 (see the summaries' README).
				want = shared.InsertAfter(want, "normalization", shared.SummaryRow{Name: "rescaling_1", Class: "Rescaling", Shape: "(None, 224, 224, 3)"})
			}
			out, err := run(t, "layers", "--backbone", tc.backbone, "--size", "224")
			if err != nil {
				t.Fatal(err)
			}
			got := shared.ParseSummary(t, out)
			if len(got) != tc.layers {
				t.Errorf("%d layers, want %d", len(got), tc.layers)
			}
			shared.CompareSummaries(t, got, want)
			if !strings.Contains(out, "Total params: "+tc.total) {
				t.Errorf("output lacks Total params: %s", tc.total)
			}
		})
	}
}

// TestModelFlagIsNotABackbone: --model, the architecture's alias until
// 0.1.0, is refused where a command takes --backbone, which selects it.
func TestModelFlagIsNotABackbone(t *testing.T) {
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"layers", "--model", "mobilenet_v2_035", "--size", "96"})
	if err := root.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("layers --model: error %v, want it refused", err)
	}
	if got, err := run(t, "layers", "--backbone", "mobilenet_v2_035", "--size", "96"); err != nil || !strings.Contains(got, "Total params: 410,208") {
		t.Errorf("--backbone did not select the backbone: %v", err)
	}
	for _, cmd := range []string{"train", "run", "bench"} {
		help, err := run(t, cmd, "--help")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(help, "--backbone") || strings.Contains(help, "--model ") {
			t.Errorf("%s --help should offer --backbone and hide the deprecated --model", cmd)
		}
	}
	if help, _ := run(t, "run", "--help"); !strings.Contains(help, "--recipe tuned") {
		t.Error("run's help does not say which preset it uses")
	}
}

// writeColorImages writes n JPEG images per class: "red" images are
// reddish, "blue" ones bluish, each with its own noise.
func writeColorImages(t *testing.T, dir string, n int, seed int) {
	t.Helper()
	for ci, class := range []string{"blue", "red"} {
		d := filepath.Join(dir, class)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			img := &data.RGB{W: 40, H: 40, Pix: make([]byte, 40*40*3)}
			for p := 0; p < 40*40; p++ {
				noise := byte((p*7 + i*13 + seed*31) % 60)
				img.Pix[3*p+2-2*ci] = 180 + noise // red channel for "red", blue for "blue"
				img.Pix[3*p+1] = noise
				img.Pix[3*p+2*ci] = noise / 2
			}
			var b bytes.Buffer
			if err := img.Encode(&b, 90); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.jpg", i)), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestTrainEfficientNetFromRandomWeights runs the two-stage recipe end to
// end on EfficientNetB0 with random initial weights (--weights none), small
// images and a few of them: both stages run, and the saved file holds the
// backbone, its in-model preprocessing and both stages' epochs.
func TestTrainEfficientNetFromRandomWeights(t *testing.T) {
	dir := t.TempDir()
	writeColorImages(t, filepath.Join(dir, "train"), 8, 1)
	writeColorImages(t, filepath.Join(dir, "val"), 4, 2)
	model := filepath.Join(dir, "out", "model.safetensors")
	out, err := run(t, "train", "--backbone", "efficientnet_b0", "--weights", "none", "--data", dir,
		"--size", "32", "--batch", "8", "--units", "16", "--epochs1", "1", "--epochs2", "1",
		"--cache-features", "1", "--workers", "2", "--out", model)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "best val accuracy") {
		t.Errorf("output %q", out)
	}
	clf, err := classifier.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if clf.Meta.Backbone != "efficientnet_b0" || clf.Meta.Preprocess != "none" || clf.Meta.Size != 32 {
		t.Errorf("meta %+v", clf.Meta)
	}
	hist, err := os.ReadFile(filepath.Join(dir, "out", "model-logs", "history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(hist)), "\n")
	if len(lines) != 3 {
		t.Fatalf("history %q: want a header and one epoch per stage", hist)
	}
	for i, l := range lines[1:] {
		if f := strings.Split(l, ","); len(f) < 2 || f[1] != fmt.Sprint(i+1) {
			t.Errorf("epoch %d: %q, want stage %d", i+1, l, i+1)
		}
	}
}
