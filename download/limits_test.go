package download

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// endless serves body and then keeps sending bytes up to extra more,
// flushing as it goes so that the response is chunked and carries no
// Content-Length (or, with announce set, a Content-Length of len(body)
// plus extra).
func endless(body []byte, extra int, announce bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if announce {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)+extra))
		}
		w.Write(body)
		w.(http.Flusher).Flush()
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < extra; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), extra-sent)]); err != nil {
				return // the client hung up, as it should
			}
			w.(http.Flusher).Flush()
		}
	}
}

// TestFetchBoundsTheBody: a server that sends more than the known size
// (or the maximum size) is cut off after one byte too many, whether or not
// it announced a length, and leaves nothing behind; before, the copy ran
// until the server stopped and only the final size check failed.
func TestFetchBoundsTheBody(t *testing.T) {
	body := payload()
	const extra = 8 << 20
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		size     int64
		maxSize  int64
		wantErr  string
		maxSeen  int64
		checksum bool
	}{
		{"known size, no Content-Length", endless(body, extra, false), int64(len(body)), 0, "sends more than 100000 bytes, expected 100000", int64(len(body)), true},
		{"known size, one byte more", endless(body, 1, false), int64(len(body)), 0, "sends more than 100000 bytes", int64(len(body)), true},
		{"maximum size, no Content-Length", endless(body, extra, false), 0, 50_000, "sends more than 50000 bytes, over the limit of 50000 bytes", 50_000, false},
		{"maximum size, announced", endless(body, extra, true), 0, 50_000, "announces 8488608 bytes, over the limit of 50000 bytes", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := httptest.NewServer(tc.handler)
			defer s.Close()
			dest := filepath.Join(t.TempDir(), "f.bin")
			var seen atomic.Int64
			_, err := Fetch(context.Background(), s.Client(), Request{
				URL: s.URL + "/f.bin", Dest: dest, Size: tc.size, MaxSize: tc.maxSize,
				Progress: func(done, total int64) { seen.Store(max(seen.Load(), done)) },
			})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), s.URL+"/f.bin") {
				t.Fatalf("got %v, want an error naming the URL and containing %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrChecksum) != tc.checksum {
				t.Errorf("%v: ErrTooLarge %v, ErrChecksum %v (want %v)", err, errors.Is(err, ErrTooLarge), errors.Is(err, ErrChecksum), tc.checksum)
			}
			if n := seen.Load(); n > tc.maxSeen {
				t.Errorf("wrote %d bytes, want at most %d", n, tc.maxSeen)
			}
			for _, p := range []string{dest, partPath(dest)} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind", filepath.Base(p))
				}
			}
		})
	}
}

// TestFetchWithinLimits: a file of exactly its known size, or within the
// maximum, is fetched whether or not the server announced its length.
func TestFetchWithinLimits(t *testing.T) {
	body := payload()
	for _, tc := range []struct {
		name          string
		announce      bool
		size, maxSize int64
	}{
		{"known size, chunked", false, int64(len(body)), 0},
		{"known size, announced", true, int64(len(body)), 0},
		{"maximum size exactly, chunked", false, 0, int64(len(body))},
		{"below the maximum, announced", true, 0, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := httptest.NewServer(endless(body, 0, tc.announce))
			defer s.Close()
			dest := filepath.Join(t.TempDir(), "f.bin")
			res, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest, Size: tc.size, MaxSize: tc.maxSize})
			if err != nil {
				t.Fatal(err)
			}
			if res.SHA256 != sum(body) {
				t.Error("content differs")
			}
		})
	}
}

// TestCachedFileOverMaximum: a cached file larger than the maximum is not
// reused.
func TestCachedFileOverMaximum(t *testing.T) {
	body := payload()
	s := httptest.NewServer(endless(body[:1000], 0, true))
	defer s.Close()
	dest := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(dest, body, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest, MaxSize: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 1000 {
		t.Errorf("kept the %d-byte cached file, want the fresh 1000 bytes", res.Size)
	}
}

// TestRedirectDowngradeRefused: an https server that redirects to plain
// http is refused, before any request to the http URL; https to https
// still works, and the caller's client is left as it was.
func TestRedirectDowngradeRefused(t *testing.T) {
	body := payload()
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		w.Write(body)
	}))
	defer plain.Close()
	var tlsURL string
	mux := http.NewServeMux()
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/file", http.StatusFound)
	})
	mux.HandleFunc("/to-https", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tlsURL+"/file", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/via-https-to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tlsURL+"/to-http", http.StatusFound)
	})
	secure := httptest.NewTLSServer(mux)
	defer secure.Close()
	tlsURL = secure.URL
	// An http URL that sends the client to https and back to http.
	bounce := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tlsURL+"/to-http", http.StatusFound)
	}))
	defer bounce.Close()

	cases := []struct {
		name    string
		url     string
		wantErr bool
	}{
		{"https to http", secure.URL + "/to-http", true},
		{"https to https to http", secure.URL + "/via-https-to-http", true},
		{"http to https to http", bounce.URL, true},
		{"https to https", secure.URL + "/to-https", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plainHits.Store(0)
			client := secure.Client()
			dest := filepath.Join(t.TempDir(), "f.bin")
			_, err := Fetch(context.Background(), client, Request{URL: tc.url, Dest: dest, SHA256: sum(body)})
			if client.CheckRedirect != nil {
				t.Error("Fetch changed the caller's client")
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInsecureRedirect) || !strings.Contains(err.Error(), plain.URL+"/file") || !strings.Contains(err.Error(), tc.url) {
				t.Fatalf("got %v, want a refused redirect naming the URL and the http target", err)
			}
			if plainHits.Load() != 0 {
				t.Error("the plain-http URL was requested")
			}
			if _, err := os.Stat(dest); err == nil {
				t.Error("a refused download left the destination file")
			}
		})
	}
}

// TestRedirectPolicyKept: the caller's own redirect policy still applies.
func TestRedirectPolicyKept(t *testing.T) {
	s := server(t, payload())
	client := s.Client()
	stop := errors.New("no redirects here")
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return stop }
	_, err := Fetch(context.Background(), client, Request{URL: s.URL + "/moved", Dest: filepath.Join(t.TempDir(), "f.bin")})
	if !errors.Is(err, stop) {
		t.Fatalf("got %v, want the client's own redirect error", err)
	}
}
