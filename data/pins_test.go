package data

import (
	"context"
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
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFetchChecksPinsAndBounds: the zip and split lists are checked against
// the pins a Source carries and bounded by its download limits; an
// unpinned file's SHA-256 is recorded beside it and reported.
func TestFetchChecksPinsAndBounds(t *testing.T) {
	zipData := zipOf(t, map[string][]byte{"d/glass/glass1.jpg": jpegBytes(10), "d/paper/paper1.jpg": jpegBytes(30)})
	train, val := "glass1.jpg 1\n", "paper1.jpg 2\n"
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/d.zip":
			w.Write(zipData)
		case "/train.txt":
			w.Write([]byte(train))
		case "/val.txt":
			w.Write([]byte(val))
		default:
			http.NotFound(w, r)
		}
	}))
	defer s.Close()
	base := func() Source {
		return Source{ZipURL: s.URL + "/d.zip", Splits: map[string]string{"train": s.URL + "/train.txt", "val": s.URL + "/val.txt"}}
	}
	cases := []struct {
		name    string
		edit    func(*Source)
		wantErr error
	}{
		{"unpinned", func(*Source) {}, nil},
		{"pinned right", func(src *Source) {
			src.ZipSHA256, src.ZipSize = sha256Hex(zipData), int64(len(zipData))
			src.SplitSHA256 = map[string]string{"train": sha256Hex([]byte(train)), "val": sha256Hex([]byte(val))}
		}, nil},
		{"wrong zip sha256", func(src *Source) { src.ZipSHA256 = strings.Repeat("0", 64) }, download.ErrChecksum},
		{"wrong zip size", func(src *Source) { src.ZipSize = int64(len(zipData)) - 1 }, download.ErrChecksum},
		{"wrong split sha256", func(src *Source) { src.SplitSHA256 = map[string]string{"val": strings.Repeat("0", 64)} }, download.ErrChecksum},
		{"zip over its bound", func(src *Source) { src.MaxZipBytes = int64(len(zipData)) - 1 }, download.ErrTooLarge},
		{"list over its bound", func(src *Source) { src.MaxListBytes = 5 }, download.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv("TRASHSORT_CACHE", cache)
			src := base()
			tc.edit(&src)
			rep, err := Fetch(context.Background(), s.Client(), src, filepath.Join(t.TempDir(), "data"), nil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.ZipSHA256 != sha256Hex(zipData) || rep.SplitSHA256["train"] != sha256Hex([]byte(train)) || rep.SplitSHA256["val"] != sha256Hex([]byte(val)) {
				t.Errorf("report hashes %s %v", rep.ZipSHA256, rep.SplitSHA256)
			}
			if src.ZipSHA256 == "" {
				// Trusted on first use: the hash is kept beside the cached zip.
				b, err := os.ReadFile(filepath.Join(cache, "datasets", "d.zip.sha256"))
				if err != nil || strings.TrimSpace(string(b)) != sha256Hex(zipData) {
					t.Errorf("recorded sha256 %q, %v", b, err)
				}
			}
		})
	}
}

// TestTrashNetSourceIsBounded: the official source fetches over https and
// bounds every download, pinned or not.
func TestTrashNetSourceIsBounded(t *testing.T) {
	src := TrashNet()
	if src.ZipSize == 0 && src.MaxZipBytes <= 0 {
		t.Error("the zip has neither a pinned size nor a bound")
	}
	if src.MaxListBytes <= 0 {
		t.Error("the split lists have no bound")
	}
	urls := []string{src.ZipURL}
	for _, u := range src.Splits {
		urls = append(urls, u)
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, "https://") {
			t.Errorf("%s is not https", u)
		}
	}
}
