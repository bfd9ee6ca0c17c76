package classifier

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// TestSafetensorsLayout checks the bytes as Python's safetensors reads them:
// u64 LE header length, JSON header with dtype/shape/data_offsets and
// string-to-string __metadata__, contiguous data in little-endian F32.
func TestSafetensorsLayout(t *testing.T) {
	var b bytes.Buffer
	err := WriteSafetensors(&b, map[string]Tensor{
		"b/kernel": {Shape: []int{2}, Data: []float32{1, 2}},
		"a/bias":   {Shape: []int{1, 1}, Data: []float32{-1.5}},
	}, map[string]string{"format": "x"})
	if err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	n := binary.LittleEndian.Uint64(raw[:8])
	if (8+n)%8 != 0 || int(8+n) > len(raw) {
		t.Fatalf("header length %d not aligned or too long", n)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(raw[8:8+n], " "), &h); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(h["__metadata__"], &meta); err != nil || meta["format"] != "x" {
		t.Errorf("metadata %s", h["__metadata__"])
	}
	var a struct {
		Dtype       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	json.Unmarshal(h["a/bias"], &a)
	if a.Dtype != "F32" || a.DataOffsets != [2]int64{0, 4} || len(a.Shape) != 2 {
		t.Errorf("a/bias entry %+v", a)
	}
	data := raw[8+n:]
	if len(data) != 12 || binary.LittleEndian.Uint32(data[0:]) != 0xbfc00000 || binary.LittleEndian.Uint32(data[4:]) != 0x3f800000 {
		t.Errorf("data % x", data)
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
