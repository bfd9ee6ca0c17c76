package serve

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/data"
)

// postCorrection posts a correction (no image part when img is nil, no
// token field when token is empty) and returns the status and body.
func postCorrection(t *testing.T, url string, img []byte, label, token string) (int, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if img != nil {
		w, _ := mw.CreateFormFile("image", "photo.jpg")
		w.Write(img)
	}
	mw.WriteField("label", label)
	if token != "" {
		mw.WriteField("token", token)
	}
	mw.Close()
	resp, err := http.Post(url+"/v1/feedback", mw.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// classifyToken classifies img and returns the answer's guess and token.
func classifyToken(t *testing.T, url string, img []byte) (guess, token string) {
	t.Helper()
	a := postImage(t, url, img)
	return a.Guess, a.FeedbackToken
}

// TestFeedbackTokens: with FeedbackTokens, only a photo this server
// answered can be corrected, by the token of its answer and the same
// bytes; the origin log records the answered class.
func TestFeedbackTokens(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	dir := t.TempDir()
	_, hs := testServer(t, Options{CorrectionsDir: dir, FeedbackTokens: true, FeedbackKey: key})
	img, other := jpegImage(40, 30), jpegImage(41, 30)
	guess, token := classifyToken(t, hs.URL, img)
	if token == "" {
		t.Fatal("the answer carries no feedback_token")
	}
	_, otherToken := classifyToken(t, hs.URL, other)
	// A server with another key issues tokens this one refuses.
	_, hs2 := testServer(t, Options{CorrectionsDir: t.TempDir(), FeedbackKey: []byte("another key, 16+ bytes")})
	_, foreign := classifyToken(t, hs2.URL, img)
	for _, c := range []struct {
		name, token string
		img         []byte
	}{
		{"no token", "", img},
		{"another photo's token", otherToken, img},
		{"the token with other bytes", token, other},
		{"another server's token", foreign, img},
		{"a forged token", "1." + "00112233445566778899aabbccddeeff", img},
		{"garbage", "x", img},
	} {
		if code, body := postCorrection(t, hs.URL, c.img, "glass", c.token); code != http.StatusForbidden || errorKind(body) != "bad_token" {
			t.Errorf("%s: %d %s, want 403 bad_token", c.name, code, body)
		}
	}
	if code, body := postCorrection(t, hs.URL, img, "glass", token); code != http.StatusCreated {
		t.Fatalf("with the answer's token: %d %s", code, body)
	}
	recs, bad, err := data.ReadCorrectionOrigins(dir)
	if err != nil || len(bad) != 0 || len(recs) != 1 {
		t.Fatalf("origin log: %v %v %v", recs, bad, err)
	}
	if r := recs[0]; r.Label != "glass" || r.Answered != guess || r.Client == "" || r.Client == "127.0.0.1" || r.Time == "" || r.Model == "" {
		t.Fatalf("origin record %+v (answered %q)", r, guess)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(recs[0].File))); err != nil {
		t.Fatalf("the record names %s: %v", recs[0].File, err)
	}
	if _, err := New(testServerClassifier(t), "", Options{FeedbackKey: []byte("short")}); err == nil || !strings.Contains(err.Error(), "feedback key") {
		t.Fatalf("a 5-byte key: got %v", err)
	}
}

// TestCorrectionsClassAndDiskLimits: a class folder holds at most
// CorrectionsMaxPerClass photos, and no store leaves the disk nearly full;
// both answer 507 with their own kind.
func TestCorrectionsClassAndDiskLimits(t *testing.T) {
	dir := t.TempDir()
	s, hs := testServer(t, Options{CorrectionsDir: dir, CorrectionsMaxPerClass: 2, FeedbackPerMinute: 1000})
	for i := 0; i < 2; i++ {
		if code, body := postCorrection(t, hs.URL, jpegImage(20+i, 20), "metal", ""); code != 201 {
			t.Fatalf("correction %d: %d %s", i, code, body)
		}
	}
	if code, body := postCorrection(t, hs.URL, jpegImage(30, 20), "metal", ""); code != http.StatusInsufficientStorage || errorKind(body) != "class_full" {
		t.Fatalf("a third metal photo: %d %s, want 507 class_full", code, body)
	}
	if code, body := postCorrection(t, hs.URL, jpegImage(30, 20), "paper", ""); code != 201 {
		t.Fatalf("another class meanwhile: %d %s", code, body)
	}
	s.corrections.freeBytes = func() (int64, error) { return minFreeBytes + 100, nil }
	if code, body := postCorrection(t, hs.URL, jpegImage(31, 20), "paper", ""); code != http.StatusInsufficientStorage || errorKind(body) != "disk_full" {
		t.Fatalf("on a nearly full disk: %d %s, want 507 disk_full", code, body)
	}
	if n, err := freeSpace(dir); err != nil || n <= 0 {
		t.Fatalf("free space of %s: %d %v", dir, n, err)
	}
}

// TestCorrectionsStayInsideFolder: a class folder swapped for a link to
// elsewhere after the server started takes no photo there: the
// corrections folder is written through os.Root.
func TestCorrectionsStayInsideFolder(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "corrections"), filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	_, hs := testServer(t, Options{CorrectionsDir: dir, FeedbackPerMinute: 1000})
	if code, body := postCorrection(t, hs.URL, jpegImage(20, 20), "glass", ""); code != 201 {
		t.Fatalf("a correction: %d %s", code, body)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "metal")); err != nil {
		t.Fatal(err)
	}
	if code, body := postCorrection(t, hs.URL, jpegImage(21, 20), "metal", ""); code != http.StatusInternalServerError {
		t.Fatalf("into a class folder that links outside: %d %s, want 500", code, body)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written outside the corrections folder: %v", ents)
	}
}
