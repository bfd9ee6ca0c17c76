package weights

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/internal/shared"
	"trashsort/models"
)

// TestFetchVerifiesStructure serves the MobileNetV2 file (and a corrupt copy)
// from a loopback server in place of the official URL.
func TestFetchVerifiesStructure(t *testing.T) {
	src := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data[:len(data)/2]...)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "bad.h5") {
			w.Write(bad)
			return
		}
		w.Write(data)
	}))
	defer s.Close()
	t.Setenv("TRASHSORT_CACHE", t.TempDir())
	t.Setenv(EnvVar, "")
	spec, _ := models.Get("mobilenet_v2_035")
	spec.NoTop.URL = s.URL + "/" + spec.NoTop.File
	path, sha, err := Fetch(context.Background(), s.Client(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sha != "22da081712a5e8214bda8ef642cc4541dcf620abb54516a56136ad4a34f290cf" {
		t.Errorf("sha256 %s", sha)
	}
	if p, ok, _ := Locate(spec, ""); !ok || p != path {
		t.Errorf("cached file not found: %s %v", p, ok)
	}
	spec.NoTop.File = "bad.h5"
	spec.NoTop.URL = s.URL + "/bad.h5"
	if _, _, err := Fetch(context.Background(), s.Client(), spec, nil); err == nil {
		t.Error("a truncated weight file was accepted")
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("TRASHSORT_CACHE"), "weights", "bad.h5")); err == nil {
		t.Error("a bad weight file was left in the cache")
	}
}

func TestLocateOverride(t *testing.T) {
	dir := shared.Path(t, "weights")
	spec, _ := models.Get("inception_v3")
	p, ok, err := Locate(spec, dir)
	if err != nil || !ok || filepath.Base(p) != spec.NoTop.File {
		t.Errorf("folder override: %s %v %v", p, ok, err)
	}
	spec, _ = models.Get("mobilenet_v2_05")
	if _, _, err := Locate(spec, dir); err == nil {
		t.Error("want error for a folder without the file")
	}
}
