package main

import (
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/internal/testimages"
)

// quantize stores calibration in the model file; predict --int8 needs it.
func TestQuantizeThenPredictInt8(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	imgs := filepath.Join(dir, "train")
	testimages.ClassFolders(t, imgs, []string{"a", "b"}, 3)
	if _, err := run(t, "predict", "--model", model, "--int8", imgs); err == nil || !strings.Contains(err.Error(), "quantize") {
		t.Errorf("predict --int8 on an uncalibrated model: err %v, want one naming quantize", err)
	}
	out, err := run(t, "quantize", "--model", model, "--data", imgs, "--batch", "4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "on 6 images") {
		t.Errorf("quantize output %q", out)
	}
	back, err := classifier.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Meta.Int8) == 0 {
		t.Fatal("no int8 calibration stored in the model file")
	}
	for name, r := range back.Meta.Int8 {
		if !(r.Max > 0) {
			t.Errorf("%s: stored range %+v", name, r)
		}
	}
	out, err = run(t, "predict", "--model", model, "--int8", "--format", "csv", filepath.Join(imgs, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 4 {
		t.Errorf("predict --int8 output %q, want a header and 3 rows", out)
	}
}
