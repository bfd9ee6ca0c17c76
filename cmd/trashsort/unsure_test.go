package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
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
