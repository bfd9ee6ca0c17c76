package serve

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"trashsort/data"
	"trashsort/internal/testimages"
)

// FuzzClassify: any body with any content type is answered with a
// client-error, overload or success status (never 500), within the
// timeout, with a JSON body.
func FuzzClassify(f *testing.F) {
	s, err := New(testServerClassifier(f), "", Options{MaxBodyBytes: 1 << 20, MaxPixels: 1 << 20, Timeout: 30 * time.Second, Log: discardLog()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	mp, mpType := multipartBody("image", jpegImage(20, 20))
	mpBytes := mp.(*bytes.Buffer).Bytes()
	f.Add(jpegImage(20, 20), "image/jpeg")
	f.Add(mpBytes, mpType)
	f.Add(mpBytes, "multipart/form-data; boundary=x")
	f.Add(testimages.PNGBomb(), "image/png")
	f.Add([]byte("hello"), "text/plain")
	f.Add([]byte{}, "")
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/classify", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 413, 415, 503:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
	})
}

// FuzzFeedback: any correction (a well-formed multipart body around any
// image bytes and label, or any body with any content type) is answered
// with a documented status other than 500 and a JSON body; nothing is
// written outside the corrections folder, which holds only class folders,
// and whatever is stored decodes and is named for its format.
func FuzzFeedback(f *testing.F) {
	parent := f.TempDir()
	dir := filepath.Join(parent, "corrections")
	clf := testServerClassifier(f)
	s, err := New(clf, "", Options{CorrectionsDir: dir, FeedbackPerMinute: 1 << 30, MaxBodyBytes: 1 << 20, MaxPixels: 1 << 20, Timeout: 30 * time.Second, Log: discardLog()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	img := jpegImage(20, 20)
	mp, mpType := multipartBody("image", img)
	f.Add(img, "glass", "", true)
	f.Add(jpegWithExif(img, "GPSLatitude=1N"), "paper", "", true)
	f.Add(append(jpegImage(12, 9), "trailer"...), "metal", "", true)
	f.Add(pngWithText(9, 7, "comment"), "trash", "", true)
	f.Add(testimages.PNGBomb(), "plastic", "", true)
	f.Add(img, "../escape", "", true)
	f.Add(img, "glass/../../escape", "", true)
	f.Add([]byte("hello"), "cardboard", "", true)
	f.Add(mp.(*bytes.Buffer).Bytes(), "", mpType, false)
	f.Add(mp.(*bytes.Buffer).Bytes(), "", "multipart/form-data; boundary=x", false)
	f.Add(img, "", "image/jpeg", false)
	f.Add([]byte{}, "", "", false)
	h := s.Handler()
	classes := map[string]bool{}
	for _, c := range clf.Meta.Classes {
		classes[c] = true
	}
	f.Fuzz(func(t *testing.T, content []byte, label, ctype string, wrap bool) {
		body := content
		if wrap {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			w, _ := mw.CreateFormFile("image", "photo.jpg")
			w.Write(content)
			mw.WriteField("label", label)
			mw.Close()
			body, ctype = b.Bytes(), mw.FormDataContentType()
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/feedback", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 201, 400, 413, 415, 429, 503, 507:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 1 || ents[0].Name() != "corrections" {
			t.Fatalf("written next to the corrections folder: %v", ents)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != data.CorrectionOriginLog && (!e.IsDir() || !classes[e.Name()]) {
				t.Fatalf("the corrections folder holds %s, not a class folder", e.Name())
			}
		}
		if rec.Code != 201 {
			return
		}
		var v struct{ Stored, Label string }
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("answer %s: %v", rec.Body, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(v.Stored))
		if rel, err := filepath.Rel(dir, p); err != nil || !filepath.IsLocal(rel) || filepath.Dir(rel) != v.Label || !classes[v.Label] {
			t.Fatalf("stored as %q with label %q", v.Stored, v.Label)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		hd, err := data.Inspect(b, 1<<20)
		if err != nil {
			t.Fatalf("stored %s does not decode: %v", v.Stored, err)
		}
		if _, err := data.Decode(b); err != nil {
			t.Fatalf("stored %s does not decode: %v", v.Stored, err)
		}
		if filepath.Ext(p) != "."+extension(hd.Format) {
			t.Fatalf("stored %s holds a %s", v.Stored, hd.Format)
		}
	})
}
