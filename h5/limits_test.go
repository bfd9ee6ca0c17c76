package h5

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAttrBytes(t *testing.T) {
	cases := []struct {
		name         string
		count, width int64
		want         int
		wantErr      string
	}{
		{"fixed-length names", 155, 32, 155 * 32, ""},
		{"variable-length names", 155, 0, 0, ""},
		{"empty list", 0, 64, 0, ""},
		{"at the byte limit", 1 << 10, maxAttrBytes >> 10, maxAttrBytes, ""},
		{"too many strings", maxAttrStrings + 1, 1, 0, "over the limit of 1048576"},
		{"one string too wide", 1, maxAttrBytes + 1, 0, "over the limit of 67108864 bytes"},
		{"product over the limit", 1 << 20, 65, 0, "over the limit of 67108864 bytes"},
		{"product that overflows int32", 1 << 16, 1 << 16, 0, "over the limit"},
		{"product that overflows int64", maxAttrStrings, 1 << 62, 0, "over the limit"},
		{"negative count", -1, 8, 0, "invalid size"},
		{"negative width", 8, -1, 0, "invalid size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attrBytes(tc.count, tc.width)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %d, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// TestManyNamesRefused: a string attribute with more names than the limit
// is refused with an error naming the file and the attribute, before it is
// read.
func TestManyNamesRefused(t *testing.T) {
	dir := hostileFiles(t)
	p := filepath.Join(dir, "manynames.h5")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Strings("dense", "weight_names")
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "dense/weight_names") || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("got %v, want a refusal naming %s and dense/weight_names", err, p)
	}
}

// TestPluginLoadingDisabled: libhdf5 loads no dynamic plugin once a file
// has been opened.
func TestPluginLoadingDisabled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.h5")
	w, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.WriteStrings("/", "layer_names", []string{"dense"}), w.Close()); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if state, err := pluginLoadingState(); err != nil || state != 0 {
		t.Errorf("plugin loading state %#x, %v; want 0", state, err)
	}
}

// childEnv names the file a re-executed test binary reads in
// TestUnknownFilterLoadsNoPlugin.
const childEnv = "TS_H5_UNKNOWN_FILTER_FILE"

// TestUnknownFilterLoadsNoPlugin: reading a dataset whose filter the reader
// lacks fails with an error, and the shared library waiting in
// HDF5_PLUGIN_PATH is never loaded. libhdf5 reads that variable when it
// starts, so the read runs in a fresh copy of the test binary.
func TestUnknownFilterLoadsNoPlugin(t *testing.T) {
	if p := os.Getenv(childEnv); p != "" {
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dst := make([]float32, 4)
		if err := f.ReadFloat32("dense/dense/bias:0", dst); err == nil {
			t.Fatal("read data through a filter this process does not have")
		}
		return
	}
	dir := hostileFiles(t)
	plugins := t.TempDir()
	lib := filepath.Join(plugins, "libts_probe.so")
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", lib, "testdata/plugin.c").CombinedOutput(); err != nil {
		t.Skipf("cc: %v\n%s", err, out)
	}
	marker := filepath.Join(t.TempDir(), "loaded")
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnknownFilterLoadsNoPlugin$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		childEnv+"="+filepath.Join(dir, "filtered.h5"),
		"HDF5_PLUGIN_PATH="+plugins,
		"HDF5_PLUGIN_PRELOAD=",
		"TS_PLUGIN_MARKER="+marker,
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reading the filtered file: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("libhdf5 loaded the shared library in HDF5_PLUGIN_PATH")
	}
}
