package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func payload() []byte {
	b := make([]byte, 100_000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func server(t *testing.T, body []byte) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "file", time.Time{}, bytes.NewReader(body))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/file", http.StatusFound)
	})
	mux.HandleFunc("/truncated", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/3])
		// The handler returns early: the client sees a short body.
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestFetch(t *testing.T) {
	body := payload()
	s := server(t, body)
	cases := []struct {
		name    string
		path    string
		sha     string
		size    int64
		wantErr string
	}{
		{"ok", "/file", sum(body), int64(len(body)), ""},
		{"redirect", "/moved", sum(body), 0, ""},
		{"wrong checksum", "/file", strings.Repeat("0", 64), 0, "checksum mismatch"},
		{"wrong size", "/file", "", 5, "expected 5"},
		{"not found", "/missing", "", 0, "404"},
		{"truncated body", "/truncated", "", 0, "unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "f.bin")
			res, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL + tc.path, Dest: dest, SHA256: tc.sha, Size: tc.size})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(dest); err == nil {
					t.Error("a failed download left the destination file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dest)
			if !bytes.Equal(got, body) || res.SHA256 != sum(body) {
				t.Error("content differs")
			}
		})
	}
}

func TestFetchResumes(t *testing.T) {
	body := payload()
	s := server(t, body)
	dest := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(dest+".part", body[:40_000], 0o644)
	var sawRange bool
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		sawRange = sawRange || r.Header.Get("Range") == "bytes=40000-"
		return http.DefaultTransport.RoundTrip(r)
	})}
	res, err := Fetch(context.Background(), client, Request{URL: s.URL + "/file", Dest: dest, SHA256: sum(body)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || !sawRange {
		t.Error("did not resume with a Range request")
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, body) {
		t.Error("resumed content differs")
	}
	if _, err := os.Stat(dest + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Error("part file left behind")
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
