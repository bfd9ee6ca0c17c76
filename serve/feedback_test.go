package serve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"trashsort/data"
)

func postFeedback(t *testing.T, url string, img []byte, label string) (int, map[string]any) {
	t.Helper()
	status, body := postCorrection(t, url, img, label, "")
	var v map[string]any
	json.Unmarshal([]byte(body), &v)
	return status, v
}

func TestFeedbackStoresCorrections(t *testing.T) {
	dir := t.TempDir()
	// 10 a minute in all: 2 for one client (clientShare).
	_, hs := testServer(t, Options{CorrectionsDir: dir, FeedbackPerMinute: 10, MaxBodyBytes: 200_000})
	img := jpegImage(50, 40)
	status, v := postFeedback(t, hs.URL, img, "glass")
	if status != 201 || v["stored"] == nil {
		t.Fatalf("status %d %v", status, v)
	}
	stored := filepath.Join(dir, filepath.FromSlash(v["stored"].(string)))
	// Stored re-encoded (TestFeedbackReencodes): the same pixels.
	if b, err := os.ReadFile(stored); err != nil {
		t.Errorf("stored file %s: %v", stored, err)
	} else if m, err := data.Decode(b); err != nil || m.W != 50 || m.H != 40 {
		t.Errorf("stored file %s does not decode to the 50x40 photo: %v", stored, err)
	}
	if filepath.Dir(stored) != filepath.Join(dir, "glass") {
		t.Errorf("stored in %s, want the glass class folder", stored)
	}
	cases := []struct {
		name   string
		img    []byte
		label  string
		status int
		kind   string
	}{
		{"unknown class", img, "zebra", 400, "bad_label"},
		{"not an image", []byte("hello"), "glass", 415, "not_an_image"},
		// Bad requests spent no token: the client's second correction is stored.
		{"second correction", jpegImage(40, 50), "paper", 201, ""},
		{"rate limited", img, "paper", 429, "rate_limited"},
	}
	for _, c := range cases {
		status, v := postFeedback(t, hs.URL, c.img, c.label)
		e, _ := v["error"].(map[string]any)
		if c.kind == "" && status == c.status {
			continue
		}
		if status != c.status || e == nil || e["kind"] != c.kind {
			t.Errorf("%s: status %d %v, want %d %s", c.name, status, v, c.status, c.kind)
		}
	}
	entries, _ := os.ReadDir(dir)
	folders := 0
	for _, e := range entries {
		if e.IsDir() {
			folders++
		}
	}
	if folders != 2 {
		t.Errorf("the corrections folder holds %d class folders, want 2", folders)
	}
	// Off by default.
	_, off := testServer(t, Options{})
	if status, _ := postFeedback(t, off.URL, img, "glass"); status != 404 {
		t.Errorf("feedback without a corrections folder: status %d, want 404", status)
	}
}

// TestFeedbackClientLimits: each client has its own bucket, so one
// client's corrections do not lock out another's, and the buckets kept
// are bounded (the least recently seen client's goes first).
func TestFeedbackClientLimits(t *testing.T) {
	c := newClientLimits(2, 3)
	a := c.get("10.0.0.1")
	if !a.allow() || !a.allow() || a.allow() {
		t.Fatal("client a: want two corrections, then none")
	}
	if !c.get("10.0.0.2").allow() {
		t.Fatal("client b locked out by client a")
	}
	if c.get("10.0.0.1").ready() {
		t.Fatal("client a's bucket refilled on a second lookup")
	}
	for _, k := range []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		c.get(k)
	}
	if len(c.buckets) != 3 {
		t.Fatalf("%d buckets kept, want at most 3", len(c.buckets))
	}
}

// TestFeedbackQuota: the corrections folder holds at most
// CorrectionsMaxBytes, counting what it held at start; beyond it feedback
// answers 507 and stores nothing.
func TestFeedbackQuota(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "glass", "old.jpg")
	os.MkdirAll(filepath.Dir(old), 0o755)
	os.WriteFile(old, make([]byte, 1000), 0o644)
	img := jpegImage(50, 40)
	_, hs := testServer(t, Options{CorrectionsDir: dir, CorrectionsMaxBytes: int64(1000 + len(img) + 10)})
	if status, v := postFeedback(t, hs.URL, img, "glass"); status != 201 {
		t.Fatalf("first correction: %d %v", status, v)
	}
	status, v := postFeedback(t, hs.URL, jpegImage(40, 50), "paper")
	if e, _ := v["error"].(map[string]any); status != 507 || e == nil || e["kind"] != "corrections_full" {
		t.Fatalf("over the quota: %d %v", status, v)
	}
	if _, err := os.Stat(filepath.Join(dir, "paper")); err == nil {
		t.Error("a correction over the quota was stored")
	}
}
