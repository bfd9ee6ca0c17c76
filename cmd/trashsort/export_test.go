package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"trashsort/data"
)

// TestExportKerasReadsBack: export writes keras-h5 and tfjs, and predict
// --model reads each back with the model file's answer.
func TestExportKerasReadsBack(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	var b bytes.Buffer
	(&data.RGB{W: 40, H: 30, Pix: bytes.Repeat([]byte{30, 200, 90}, 1200)}).Encode(&b, 90)
	img := filepath.Join(dir, "x.jpg")
	if err := os.WriteFile(img, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := run(t, "predict", "--model", model, "--format", "json", img)
	if err != nil {
		t.Fatal(err)
	}
	h5 := filepath.Join(dir, "m.h5")
	tfjs := filepath.Join(dir, "tfjs")
	for _, c := range []struct{ format, out, model string }{{"keras-h5", h5, h5}, {"tfjs", tfjs, filepath.Join(tfjs, "model.json")}} {
		if _, err := run(t, "export", "--model", model, "--format", c.format, "--include-preprocessing", "-o", c.out); err != nil {
			t.Fatal(err)
		}
		got, err := run(t, "predict", "--model", c.model, "--format", "json", img)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: predict gives %s, the model file %s", c.format, got, want)
		}
	}
	if _, err := run(t, "export", "--model", model, "--format", "onnx", "--uncalibrated", "-o", filepath.Join(dir, "m.onnx")); err == nil {
		t.Error("--uncalibrated accepted for ONNX")
	}
}
