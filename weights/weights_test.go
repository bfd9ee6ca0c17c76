package weights

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/download"
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
	// The shared file is a re-encoding, not the official download: its
	// length differs from the pinned one.
	spec.NoTop.Size = 0
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

// TestFetchChecksPins: every pin a spec carries (MD5, SHA-256, size) is
// checked on download; a file that matches them all goes on to the
// structure check.
func TestFetchChecksPins(t *testing.T) {
	body := []byte("not really an h5 file, but the pins decide first")
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer s.Close()
	t.Setenv(EnvVar, "")
	sha, md := sha256.Sum256(body), md5.Sum(body)
	good := models.Weights{File: "pinned.h5", URL: s.URL + "/pinned.h5", MD5: hex.EncodeToString(md[:]), SHA256: hex.EncodeToString(sha[:]), Size: int64(len(body))}
	cases := []struct {
		name     string
		edit     func(*models.Weights)
		checksum bool
	}{
		{"all pins right", func(*models.Weights) {}, false},
		{"wrong sha256", func(w *models.Weights) { w.SHA256 = strings.Repeat("0", 64) }, true},
		{"wrong md5", func(w *models.Weights) { w.MD5 = strings.Repeat("0", 32) }, true},
		{"wrong size", func(w *models.Weights) { w.Size++ }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRASHSORT_CACHE", t.TempDir())
			spec, _ := models.Get("mobilenet_v2_035")
			spec.NoTop = good
			tc.edit(&spec.NoTop)
			_, _, err := Fetch(context.Background(), s.Client(), spec, nil)
			if err == nil {
				t.Fatal("a file that is no weight file was accepted")
			}
			if errors.Is(err, download.ErrChecksum) != tc.checksum {
				t.Errorf("got %v, want a checksum error: %v", err, tc.checksum)
			}
		})
	}
}
