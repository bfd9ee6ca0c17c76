package models

import (
	"os"
	"path/filepath"
	"testing"

	"trashsort/internal/shared"
)

// FuzzKerasWeightFile corrupts a real weight file at a fuzzed position and
// loads it: every outcome must be an error or a successful load, never a
// panic. The corruption is a run of bytes written at an offset, so the
// fuzzer reaches the superblock, the object headers, the attribute heaps
// (layer and weight names) and the data.
func FuzzKerasWeightFile(f *testing.F) {
	path := shared.Path(f, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	orig, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), []byte{0})
	f.Add(uint32(96), []byte("\xff\xff\xff\xff"))
	f.Add(uint32(800), []byte("layer_names"))
	f.Add(uint32(2000), []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint32(len(orig)-64), []byte("\x00\x01\x02"))
	spec, _ := Get("mobilenet_v2_035")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		b := append([]byte(nil), orig...)
		o := int(off) % len(b)
		copy(b[o:], patch)
		p := filepath.Join(dir, "fuzz.h5")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := spec.Build(Options{Size: 32})
		if err != nil {
			t.Fatal(err)
		}
		_ = LoadKerasWeights(m, p)
	})
}
