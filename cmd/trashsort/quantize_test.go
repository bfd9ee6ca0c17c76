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
	if back.Meta.Int8MaxErr != 0 {
		t.Errorf("with no image held out, stored error bound %g, want none", back.Meta.Int8MaxErr)
	}

	// With images held out, quantize checks int8 against float32 and
	// stores the largest bound that agrees well enough: with no minimum,
	// the first tried (every convolution in int8).
	out, err = run(t, "quantize", "--model", model, "--data", imgs, "--batch", "4", "--images", "4", "--min-agreement", "0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, " of 2 held-out images") {
		t.Errorf("quantize output %q, want a check on the 2 held-out images", out)
	}
	if !strings.Contains(out, "--int8 uses error bound 1\n") {
		t.Errorf("quantize output %q, want bound 1 chosen", out)
	}
	if back, err = classifier.Load(model); err != nil {
		t.Fatal(err)
	}
	if back.Meta.Int8MaxErr != 1 || back.Model.Int8MaxErr != 1 {
		t.Errorf("stored error bound %g (model %g), want 1", back.Meta.Int8MaxErr, back.Model.Int8MaxErr)
	}
	if _, err := run(t, "quantize", "--model", model, "--data", imgs, "--min-agreement", "2"); err == nil || !strings.Contains(err.Error(), "--min-agreement") {
		t.Errorf("--min-agreement 2: %v", err)
	}
}
