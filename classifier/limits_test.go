package classifier

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"trashsort/safetensors"
)

// metaFile is a model file with the given metadata and no weights: about
// 1 KB, the attack the bounds exist for.
func metaFile(t testing.TB, m Meta) []byte {
	meta, err := Metadata(m)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := safetensors.Write(&b, nil, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestLoadRejectsHostileMetadata: unbounded sizes in the metadata are
// refused before the model is built (before the fix a 1 KB file asked for
// terabytes and the process died).
func TestLoadRejectsHostileMetadata(t *testing.T) {
	base := func() Meta {
		return Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"a", "b"}, Head: Head{Units: 16}, Preprocess: "tf"}
	}
	cases := []struct {
		name string
		edit func(*Meta)
		want string
	}{
		{"input size", func(m *Meta) { m.Size = 1_000_000 }, "input size"},
		{"head units", func(m *Meta) { m.Head.Units = 1 << 40 }, "head units"},
		{"negative units", func(m *Meta) { m.Head.Units = -5 }, "head units"},
		{"classes", func(m *Meta) { m.Classes = make([]string, MaxClasses+1) }, "classes"},
		{"duplicate class", func(m *Meta) { m.Classes = []string{"a", "a"} }, "twice"},
		{"class escaping the corrections folder", func(m *Meta) { m.Classes = []string{"a", "../../../escaped"} }, "safe folder name"},
		{"class with a separator", func(m *Meta) { m.Classes = []string{"a", "b/c"} }, "safe folder name"},
		{"class with a backslash", func(m *Meta) { m.Classes = []string{"a", `b\c`} }, "safe folder name"},
		{"class dot-dot", func(m *Meta) { m.Classes = []string{"a", ".."} }, "safe folder name"},
		{"class dot", func(m *Meta) { m.Classes = []string{"a", "."} }, "safe folder name"},
		{"class with a control character", func(m *Meta) { m.Classes = []string{"a", "b\x00"} }, "safe folder name"},
		{"absolute class", func(m *Meta) { m.Classes = []string{"a", "/etc"} }, "safe folder name"},
		{"dropout", func(m *Meta) { m.Head.Dropout = 1 }, "dropout"},
		{"alpha", func(m *Meta) { m.Alpha = 1e9 }, "width multiplier"},
		{"preprocessing", func(m *Meta) { m.Preprocess = "magic" }, "preprocessing"},
		{"resize", func(m *Meta) { m.Resize = "lanczos9" }, "resize"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(&m)
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
			os.WriteFile(p, metaFile(t, m), 0o644)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("got %v, want an error naming the file and %q", err, tc.want)
			}
		})
	}
}

// TestLoadChecksShapesBeforeReading: a weight of the wrong shape, a missing
// or an extra weight is an error.
func TestLoadChecksShapesBeforeReading(t *testing.T) {
	c := small(t)
	meta, _ := Metadata(c.Meta)
	dir := t.TempDir()
	write := func(name string, edit func(map[string]Tensor)) string {
		ts := Tensors(c.Model)
		edit(ts)
		var b bytes.Buffer
		if err := safetensors.Write(&b, ts, meta); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	for name, edit := range map[string]func(map[string]Tensor){
		"shape":   func(ts map[string]Tensor) { ts["dense_1/bias"] = Tensor{Shape: []int{2, 2}, Data: make([]float32, 4)} },
		"missing": func(ts map[string]Tensor) { delete(ts, "dense/kernel") },
		"extra":   func(ts map[string]Tensor) { ts["zzz/kernel"] = Tensor{Shape: []int{1}, Data: []float32{1}} },
	} {
		p := write(name, edit)
		if _, err := Load(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// FuzzLoad: model files of any content load or fail with an error; the
// seeds are a real small model and hostile variants of its metadata.
func FuzzLoad(f *testing.F) {
	c, err := New(Meta{Backbone: "mobilenet_v2_035", Size: 32, Classes: []string{"a", "b"}, Head: Head{Units: 4}}, 1)
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.safetensors")
	if err := c.Save(p); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	f.Add(good)
	m := c.Meta
	m.Size = 1 << 30
	f.Add(metaFile(f, m))
	mb, _ := json.Marshal(c.Meta)
	f.Add(metaFile(f, Meta{Backbone: string(mb)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "m.safetensors")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		Load(p)
	})
}

// TestLoadRefusesCraftedHeadCheaply: metadata within the bounds but asking
// for the widest head and the most classes, beside weights that do not
// match it, in a 1 MB file, is refused before the model is built, allocating
// under 64 MB in all (row 8 of the red-team table: such a 118 KB file once
// took 0.9 GB and 1.35 s before its weights were checked).
func TestLoadRefusesCraftedHeadCheaply(t *testing.T) {
	m := Meta{Backbone: "mobilenet_v2_035", Alpha: 1.4, Size: 64, Head: Head{Units: MaxHeadUnits}, Preprocess: "tf"}
	for i := 0; i < MaxClasses; i++ {
		m.Classes = append(m.Classes, "c"+strconv.Itoa(i))
	}
	meta, err := Metadata(m)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tiny := map[string]safetensors.Tensor{
		"dense/kernel":   {Shape: []int{512, 512}, Data: make([]float32, 512*512)}, // 1 MiB
		"dense_1/kernel": {Shape: []int{4, 4}, Data: make([]float32, 16)},
	}
	if err := safetensors.Write(&b, tiny, meta); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "crafted.safetensors")
	os.WriteFile(p, b.Bytes(), 0o644)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Load(p)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "does not match the metadata's head") || !strings.Contains(err.Error(), p) {
		t.Fatalf("got %v", err)
	}
	if b.Len() < 1<<20 {
		t.Fatalf("the crafted file has %d bytes, meant to be 1 MB", b.Len())
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("refusing a %d-byte file allocated %d MB", b.Len(), alloc>>20)
	}
}
