package h5

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostileFiles compiles testdata/hostile.c against libhdf5 and writes its
// files into a temporary folder (skips without a C compiler or pkg-config).
func hostileFiles(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "hdf5").Output()
	if err != nil {
		t.Skipf("pkg-config hdf5: %v", err)
	}
	bin := filepath.Join(dir, "hostile")
	args := append([]string{"-o", bin, "testdata/hostile.c"}, strings.Fields(string(flags))...)
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Skipf("cc: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, dir, filepath.Join(dir, "secret.h5")).CombinedOutput(); err != nil {
		t.Fatalf("hostile: %v\n%s", err, out)
	}
	return dir
}

// TestRefusesDataFromOutsideTheFile: weights reached through an external or
// soft link, kept in an external raw-data file or in a virtual dataset are
// refused; before, libhdf5 followed them and read the other file.
func TestRefusesDataFromOutsideTheFile(t *testing.T) {
	dir := hostileFiles(t)
	const ds = "dense/dense/bias:0"
	cases := []struct {
		file, want string
	}{
		{"plain.h5", ""},
		{"extlink.h5", "external link"},
		{"softlink.h5", "soft or external link"},
		{"external.h5", "external file"},
		{"virtual.h5", "virtual dataset"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Open(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if wn, err := f.Strings("dense", "weight_names"); err != nil || len(wn) != 1 {
				t.Fatalf("weight_names %v %v", wn, err)
			}
			dst := make([]float32, 4)
			err = f.ReadFloat32(ds, dst)
			_, _, err2 := f.Float32(ds)
			if tc.want == "" {
				if err != nil || err2 != nil || dst[3] != 3 {
					t.Fatalf("plain file: %v %v %v", err, err2, dst)
				}
				return
			}
			for _, e := range []error{err, err2} {
				if e == nil || !strings.Contains(e.Error(), "refused") || !strings.Contains(e.Error(), strings.Fields(tc.want)[0]) {
					t.Errorf("got %v, want a refusal (%s)", e, tc.want)
				}
			}
			if tc.file == "extlink.h5" && f.Exists("dense/dense") {
				t.Error("Exists follows an external link")
			}
		})
	}
}

// TestReadFloat32ChecksSizeFirst: a dataset larger than the destination is
// refused before it is read.
func TestReadFloat32ChecksSizeFirst(t *testing.T) {
	dir := hostileFiles(t)
	f, err := Open(filepath.Join(dir, "big.h5"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := make([]float32, 4)
	if err := f.ReadFloat32("dense/dense/bias:0", dst); err == nil || !strings.Contains(err.Error(), "want 4 values") {
		t.Errorf("got %v", err)
	}
	if dst[1] != 0 {
		t.Error("data written before the size check")
	}
}

// FuzzOpen: arbitrary bytes as a weight file open and read (the way the
// Keras loader reads) or fail with an error. Seeds are the test files above
// plus testdata/fuzz corpus entries.
func FuzzOpen(f *testing.F) {
	dir := hostileFiles(f)
	for _, n := range []string{"plain.h5", "big.h5", "extlink.h5", "softlink.h5", "external.h5", "virtual.h5", "filtered.h5"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "w.h5")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := Open(p)
		if err != nil {
			return
		}
		defer h.Close()
		names, _ := h.Strings("/", "layer_names")
		for _, n := range names {
			wn, _ := h.Strings(n, "weight_names")
			for _, w := range wn {
				shape, err := h.Shape(n + "/" + w)
				if err != nil {
					continue
				}
				size := 1
				for _, d := range shape {
					size *= d
				}
				if size <= 1<<20 {
					h.ReadFloat32(n+"/"+w, make([]float32, size))
				}
			}
		}
	})
}
