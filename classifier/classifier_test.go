package classifier

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/models"
	"trashsort/tensor"
)

func small(t *testing.T) *Classifier {
	t.Helper()
	c, err := New(Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"a", "b", "c"}, Head: Head{Units: 16, Dropout: 0.2}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.Model.InitWeights(3)
	return c
}

func TestSaveLoadRoundTrip(t *testing.T) {
	c := small(t)
	c.Meta.Summary.ValAccuracy = 0.875
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Meta.Summary.ValAccuracy != 0.875 || strings.Join(back.Meta.Classes, ",") != "a,b,c" || back.Meta.Preprocess != "tf" {
		t.Errorf("meta %+v", back.Meta)
	}
	x := tensor.New(2, 64, 64, 3)
	for i := range x.Data {
		x.Data[i] = float32(i % 255)
	}
	p1, err := c.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := back.Predict(x)
	if e := tensor.RelErr(p2.Data, p1.Data); e != 0 {
		t.Errorf("predictions differ after reload: %g", e)
	}
}

func TestLoadRejectsDamagedFiles(t *testing.T) {
	c := small(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	cases := map[string][]byte{
		"truncated.safetensors": good[:len(good)-100],
		"header.safetensors":    good[:20],
		"empty.safetensors":     nil,
		"garbage.safetensors":   []byte("not a model at all, just text"),
	}
	for name, content := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
}

// TestPreprocessingInModelFile checks that the file records the mode, that
// Load rejects a mode it does not know instead of guessing, and that the
// rescale mode needs its factor.
func TestPreprocessingInModelFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode    models.Preprocessing
		rescale float64
		wantErr string
	}{
		{"tf", 0, ""},
		{"caffe", 0, ""},
		{"torch", 0, ""},
		{"none", 0, ""},
		{Rescale, 1.0 / 255, ""},
		{Rescale, 0, "rescale factor"},
		{"bgr", 0, `unknown preprocessing "bgr"`},
		{"TF", 0, `unknown preprocessing "TF"`},
	} {
		c := small(t)
		c.Meta.Preprocess, c.Meta.Rescale = tc.mode, tc.rescale
		path := filepath.Join(dir, string(tc.mode)+".safetensors")
		if err := c.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("%q: got %v, want an error naming the file and %q", tc.mode, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.mode, err)
			continue
		}
		if back.Meta.Preprocess != tc.mode {
			t.Errorf("%q: reloaded as %q", tc.mode, back.Meta.Preprocess)
		}
	}
}
