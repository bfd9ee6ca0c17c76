package serve

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"trashsort/internal/testimages"
)

type batchFile struct {
	field, name string
	content     []byte
}

func postBatch(t *testing.T, url string, files []batchFile) (int, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.field, f.name)
		w.Write(f.content)
	}
	mw.Close()
	resp, err := http.Post(url+"/v1/classify/batch", mw.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestBatchPerFileResults: each file gets its answer or its own error, in
// order, under the single-image limits.
func TestBatchPerFileResults(t *testing.T) {
	_, hs := testServer(t, Options{MaxBodyBytes: 200_000, MaxFiles: 8})
	good, other := jpegImage(80, 60), jpegImage(33, 47)
	files := []batchFile{
		{"image", "a.jpg", good},
		{"image", "broken.jpg", good[:len(good)/2]},
		{"note", "", []byte("ignored field")},
		{"image", "bomb.png", testimages.PNGBomb()},
		{"image", "text.txt", []byte("hello")},
		{"image", "huge.jpg", make([]byte, 300_000)},
		{"image", "empty.jpg", nil},
		{"image", "b.jpg", other},
	}
	status, body := postBatch(t, hs.URL, files)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var r struct {
		Results []struct {
			Index int
			File  string
			Label string
			Guess string
			Error *struct{ Kind string }
		}
		Images, Failed int
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	want := []struct{ file, kind string }{
		{"a.jpg", ""}, {"broken.jpg", "corrupt_image"}, {"bomb.png", "too_large"}, {"text.txt", "not_an_image"},
		{"huge.jpg", "too_large"}, {"empty.jpg", "empty_body"}, {"b.jpg", ""},
	}
	if len(r.Results) != len(want) || r.Images != len(want) || r.Failed != 5 {
		t.Fatalf("%d results (images %d, failed %d), want %d: %s", len(r.Results), r.Images, r.Failed, len(want), body)
	}
	for i, w := range want {
		got := r.Results[i]
		kind := ""
		if got.Error != nil {
			kind = got.Error.Kind
		}
		if got.Index != i || got.File != w.file || kind != w.kind || (kind == "") != (got.Label != "") {
			t.Errorf("result %d: %+v (error %q), want %s with error %q", i, got, kind, w.file, w.kind)
		}
	}
	// The batch answers what /v1/classify answers for the same image.
	single := postImage(t, hs.URL, good)
	if r.Results[0].Guess != single.Guess {
		t.Errorf("batch says %q, single request %q", r.Results[0].Guess, single.Guess)
	}
}

func TestBatchRequestErrors(t *testing.T) {
	_, hs := testServer(t, Options{MaxFiles: 2})
	img := jpegImage(40, 30)
	cases := []struct {
		name   string
		files  []batchFile
		status int
		kind   string
	}{
		{"too many files", []batchFile{{"image", "1.jpg", img}, {"image", "2.jpg", img}, {"image", "3.jpg", img}}, 413, "too_many_files"},
		{"no image field", []batchFile{{"photo", "1.jpg", img}}, 400, "missing_field"},
	}
	for _, c := range cases {
		status, body := postBatch(t, hs.URL, c.files)
		if status != c.status || !strings.Contains(string(body), `"kind":"`+c.kind+`"`) {
			t.Errorf("%s: status %d %s, want %d %s", c.name, status, body, c.status, c.kind)
		}
	}
	resp, err := http.Post(hs.URL+"/v1/classify/batch", "image/jpeg", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a raw body: status %d, want 400", resp.StatusCode)
	}
}
