package data

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func zipOf(t *testing.T, files map[string][]byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for n, c := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(c)
	}
	zw.Close()
	return b.Bytes()
}

func jpegBytes(v uint8) []byte {
	var b bytes.Buffer
	img := &RGB{W: 8, H: 6, Pix: bytes.Repeat([]byte{v}, 8*6*3)}
	img.Encode(&b, 90)
	return b.Bytes()
}

func TestFetchTrashNetFromLoopback(t *testing.T) {
	files := map[string][]byte{
		"dataset-resized/glass/glass1.jpg":         jpegBytes(10),
		"dataset-resized/glass/glass2.jpg":         jpegBytes(20),
		"dataset-resized/paper/paper1.jpg":         jpegBytes(30),
		"dataset-resized/trash/trash1.jpg":         jpegBytes(40),
		"__MACOSX/dataset-resized/._glass1.jpg":    []byte("meta"),
		"dataset-resized/.DS_Store":                []byte("x"),
		"dataset-resized/cardboard/cardboard1.jpg": jpegBytes(50),
	}
	zipData := zipOf(t, files)
	lists := map[string]string{
		"/train.txt": "glass1.jpg 1\npaper1.jpg 2\ncardboard1.jpg 3\n",
		"/val.txt":   "glass2.jpg 1\n",
		"/test.txt":  "trash1.jpg 6\n",
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dataset-resized.zip" {
			w.Write(zipData)
			return
		}
		if l, ok := lists[r.URL.Path]; ok {
			w.Write([]byte(l))
			return
		}
		http.NotFound(w, r)
	}))
	defer s.Close()
	t.Setenv("TRASHSORT_CACHE", t.TempDir())
	src := Source{
		ZipURL: s.URL + "/dataset-resized.zip",
		Splits: map[string]string{"train": s.URL + "/train.txt", "val": s.URL + "/val.txt", "test": s.URL + "/test.txt"},
		Counts: map[string]int{"glass": 2, "paper": 1},
	}
	dir := filepath.Join(t.TempDir(), "data")
	rep, err := Fetch(context.Background(), s.Client(), src, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Splits["train"] != 3 || rep.Splits["val"] != 1 || rep.Splits["test"] != 1 {
		t.Errorf("splits %v", rep.Splits)
	}
	d, err := FromFolder(filepath.Join(dir, "train"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Classes, ",") != "cardboard,glass,paper" {
		t.Errorf("train classes %v", d.Classes)
	}
	if _, err := os.Stat(filepath.Join(dir, "test", "trash", "trash1.jpg")); err != nil {
		t.Error(err)
	}
	// A second fetch refuses to overwrite.
	if _, err := Fetch(context.Background(), s.Client(), src, dir, nil); err == nil {
		t.Error("fetch overwrote an existing dataset")
	}
	// Wrong class counts are caught.
	src.Counts = map[string]int{"glass": 3}
	if _, err := Fetch(context.Background(), s.Client(), src, filepath.Join(t.TempDir(), "d2"), nil); err == nil || !strings.Contains(err.Error(), "expected 3") {
		t.Errorf("count check: %v", err)
	}
}

func TestExtractZipRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil.jpg", "a/../../evil.jpg", "/abs/evil.jpg", `a\..\evil.jpg`} {
		p := filepath.Join(t.TempDir(), "x.zip")
		os.WriteFile(p, zipOf(t, map[string][]byte{name: []byte("x")}), 0o644)
		dir := t.TempDir()
		if _, err := ExtractZip(p, dir, Source{}); err == nil {
			t.Errorf("%q: extracted", name)
		}
	}
	// Size limits.
	p := filepath.Join(t.TempDir(), "big.zip")
	os.WriteFile(p, zipOf(t, map[string][]byte{"a.jpg": bytes.Repeat([]byte("a"), 10000)}), 0o644)
	if _, err := ExtractZip(p, t.TempDir(), Source{MaxFileBytes: 1000}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("size limit: %v", err)
	}
}

// TestFetchDuplicateLinesAndOneRename: a repeated split-list line leaves
// the image intact (before, copying over its own hard link truncated it);
// a file in two splits is refused; the dataset appears in one rename and a
// killed fetch's build folder is cleaned up.
func TestFetchDuplicateLinesAndOneRename(t *testing.T) {
	img := jpegBytes(10)
	zipData := zipOf(t, map[string][]byte{"d/glass/glass1.jpg": img, "d/paper/paper1.jpg": jpegBytes(30)})
	lists := map[string]string{
		"/train.txt": "glass1.jpg 1\nglass1.jpg 1\n",
		"/val.txt":   "paper1.jpg 2\n",
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/d.zip" {
			w.Write(zipData)
			return
		}
		w.Write([]byte(lists[r.URL.Path]))
	}))
	defer s.Close()
	t.Setenv("TRASHSORT_CACHE", t.TempDir())
	src := Source{ZipURL: s.URL + "/d.zip", Splits: map[string]string{"train": s.URL + "/train.txt", "val": s.URL + "/val.txt"}}
	parent := t.TempDir()
	stale := filepath.Join(parent, fetchTempPrefix+"999999999-x")
	os.MkdirAll(filepath.Join(stale, "raw"), 0o755)
	dir := filepath.Join(parent, "data")
	rep, err := Fetch(context.Background(), s.Client(), src, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "train", "glass", "glass1.jpg"))
	if !bytes.Equal(got, img) || rep.Splits["train"] != 1 {
		t.Errorf("duplicated line: %d bytes (want %d), %d train images", len(got), len(img), rep.Splits["train"])
	}
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 || ents[0].Name() != "data" {
		t.Errorf("beside the dataset: %v, want only data (stale build folder removed)", ents)
	}

	lists["/val.txt"] = "glass1.jpg 1\npaper1.jpg 2\n"
	cache := t.TempDir()
	t.Setenv("TRASHSORT_CACHE", cache)
	if _, err := Fetch(context.Background(), s.Client(), src, filepath.Join(t.TempDir(), "d2"), nil); err == nil || !strings.Contains(err.Error(), "listed as") {
		t.Errorf("file in two splits: %v", err)
	}
}
