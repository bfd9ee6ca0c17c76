package serve

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
