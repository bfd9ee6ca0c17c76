package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
)

// TestPredictSaysUnsure: below the model's stored threshold predict
// answers "unsure" with its best guess; --min-confidence -1 turns that off.
func TestPredictSaysUnsure(t *testing.T) {
	dir := t.TempDir()
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"a", "b", "c"}, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	clf.Meta.Calibration = &calibrate.Calibration{Temperature: 2, MinConfidence: 0.999}
	model := filepath.Join(dir, "m.safetensors")
	if err := clf.Save(model); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	(&data.RGB{W: 10, H: 10, Pix: bytes.Repeat([]byte{200}, 300)}).Encode(&b, 90)
	img := filepath.Join(dir, "x.jpg")
	os.WriteFile(img, b.Bytes(), 0o644)
	for _, c := range []struct {
		flags      []string
		wantUnsure bool
	}{{nil, true}, {[]string{"--min-confidence", "-1"}, false}} {
		out, err := run(t, append([]string{"predict", "--model", model, "--format", "json", img}, c.flags...)...)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Label, Guess string
			Unsure       bool
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.Unsure != c.wantUnsure || (r.Label == classifier.Unsure) != c.wantUnsure || !strings.Contains("abc", r.Guess) || r.Guess == "" {
			t.Errorf("flags %v: %s", c.flags, out)
		}
	}
	out, err := run(t, "predict", "--model", model, img)
	if err != nil || !strings.Contains(out, "unsure: ") {
		t.Errorf("table output %q (%v) should say unsure", out, err)
	}
}

func TestExportWritesONNX(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	out := filepath.Join(dir, "m.onnx")
	if _, err := run(t, "export", "--model", model, "--format", "onnx", "-o", out); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || st.Size() < 1000 {
		t.Errorf("%s: %v", out, err)
	}
	if _, err := run(t, "export", "--model", model, "--format", "tflite", "-o", out); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestExplainWritesOverlays(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	var b bytes.Buffer
	(&data.RGB{W: 50, H: 40, Pix: bytes.Repeat([]byte{30, 200, 90}, 2000)}).Encode(&b, 90)
	img := filepath.Join(dir, "photo.jpg")
	os.WriteFile(img, b.Bytes(), 0o644)
	out, err := run(t, "explain", "--model", model, "--out", filepath.Join(dir, "out"), "--class", "b", img)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "photo.jpg\tb ") {
		t.Errorf("output %q", out)
	}
	f, err := os.Open(filepath.Join(dir, "out", "photo-gradcam.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if im, err := png.Decode(f); err != nil || im.Bounds().Dx() != 50 {
		t.Errorf("overlay: %v", err)
	}
	if _, err := run(t, "explain", "--model", model, "--class", "zebra", img); err == nil {
		t.Error("unknown class accepted")
	}
}

func TestCalibrateStoresCalibration(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	testimages.ClassFolders(t, filepath.Join(dir, "val"), []string{"a", "b"}, 3)
	out := filepath.Join(dir, "calibrated.safetensors")
	if _, err := run(t, "calibrate", "--model", model, "--data", filepath.Join(dir, "val"), "-o", out); err != nil {
		t.Fatal(err)
	}
	back, err := classifier.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := back.Meta.Calibration; c == nil || c.Images != 6 || c.Temperature <= 0 {
		t.Errorf("calibration %+v", c)
	}
}
