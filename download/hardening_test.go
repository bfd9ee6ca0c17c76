package download

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWrongContentRangeRestarts: a server that answers a range request with
// 206 from the wrong offset must not have its bytes appended to the part
// file (before, the result was spliced and, without a hash, kept).
func TestWrongContentRangeRestarts(t *testing.T) {
	body := payload()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			// Claims a range but sends the file from byte 0.
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(body)-1, len(body)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(body)
			return
		}
		w.Write(body)
	}))
	defer s.Close()
	dest := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(partPath(dest), body[:40_000], 0o644)
	if _, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Errorf("content spliced: %d bytes", len(got))
	}
}

// TestIfRangeOnResume: a resumed request carries the validator of the
// response the part came from, so a changed file is sent whole.
func TestIfRangeOnResume(t *testing.T) {
	old, cur := payload(), bytes.Repeat([]byte("new!"), 25_000)
	var sawIfRange atomic.Value
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawIfRange.Store(r.Header.Get("If-Range"))
		w.Header().Set("ETag", `"v2"`)
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(cur))
	}))
	defer s.Close()
	dest := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(partPath(dest), old[:40_000], 0o644)
	os.WriteFile(validatorPath(dest), []byte(`"v1"`+"\n"), 0o644)
	res, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	if sawIfRange.Load() != `"v1"` {
		t.Errorf("If-Range %q, want \"v1\"", sawIfRange.Load())
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, cur) || res.Resumed {
		t.Errorf("changed file spliced onto the old part (resumed %v)", res.Resumed)
	}
}

// TestStalledServer: a server that stops sending is abandoned after the
// stall timeout, not waited for forever; the part file stays for a resume.
func TestStalledServer(t *testing.T) {
	body := payload()
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:30_000])
		w.(http.Flusher).Flush()
		<-release
	}))
	defer s.Close()
	defer close(release)
	dest := filepath.Join(t.TempDir(), "f.bin")
	t0 := time.Now()
	_, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest, StallTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "stalled") || time.Since(t0) > 20*time.Second {
		t.Fatalf("got %v after %v, want a stall error", err, time.Since(t0))
	}
	if st, err := os.Stat(partPath(dest)); err != nil || st.Size() != 30_000 {
		t.Errorf("part file: %v", err)
	}
}

// TestConcurrentFetchesShareOneDownload: two fetches of one file do not
// write one .part together; the second waits and reuses the result.
func TestConcurrentFetchesShareOneDownload(t *testing.T) {
	body := payload()
	var full atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		full.Add(1)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		for i := 0; i < len(body); i += 10_000 {
			w.Write(body[i:min(i+10_000, len(body))])
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	}))
	defer s.Close()
	dest := filepath.Join(t.TempDir(), "f.bin")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Error("content differs")
	}
	if n := full.Load(); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

// TestCachedFileRechecked: a cached file without a published hash is
// checked against the SHA-256 recorded when it was downloaded; a damaged
// one is downloaded again.
func TestCachedFileRechecked(t *testing.T) {
	body := payload()
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write(body)
	}))
	defer s.Close()
	dest := filepath.Join(t.TempDir(), "f.bin")
	for i := 0; i < 2; i++ {
		if _, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest}); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("%d downloads of an intact cached file, want 1", n.Load())
	}
	damaged := append([]byte(nil), body...)
	damaged[500] ^= 1
	os.WriteFile(dest, damaged, 0o644)
	if _, err := Fetch(context.Background(), s.Client(), Request{URL: s.URL, Dest: dest}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) || n.Load() != 2 {
		t.Errorf("damaged cached file reused (%d downloads)", n.Load())
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in             string
		start, end, sz int64
		ok             bool
	}{
		{"bytes 10-19/20", 10, 19, 20, true},
		{"bytes 10-19/*", 10, 19, -1, true},
		{"bytes 10-19/15", 0, 0, 0, false},
		{"bytes 20-10/30", 0, 0, 0, false},
		{"items 1-2/3", 0, 0, 0, false},
		{"bytes x-2/3", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		s, e, z, ok := parseContentRange(tc.in)
		if ok != tc.ok || ok && (s != tc.start || e != tc.end || z != tc.sz) {
			t.Errorf("%q: %d %d %d %v", tc.in, s, e, z, ok)
		}
	}
}
