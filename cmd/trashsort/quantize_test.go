package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
)

// quantize stores calibration in the model file; predict --int8 needs it.
func TestQuantizeThenPredictInt8(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	imgs := filepath.Join(dir, "train")
	for i, class := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(imgs, class), 0o755)
		for k := 0; k < 3; k++ {
			var b bytes.Buffer
			(&data.RGB{W: 20, H: 20, Pix: bytes.Repeat([]byte{byte(40 * k), byte(200 * i), 90}, 400)}).Encode(&b, 90)
			os.WriteFile(filepath.Join(imgs, class, string(rune('0'+k))+".jpg"), b.Bytes(), 0o644)
		}
	}
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
