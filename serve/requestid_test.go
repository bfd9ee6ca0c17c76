package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"trashsort/classifier"
	"trashsort/tensor"
)

// lockedBuffer is a log sink the test reads while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records returns the JSON log lines written so far.
func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestIDInErrorLog: a failed classification's error line carries
// the request id, the client's when it sent a sane one and a generated one
// otherwise, and the response echoes that same id.
func TestRequestIDInErrorLog(t *testing.T) {
	var logs lockedBuffer
	s, hs := testServer(t, Options{Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	s.forward = func(classifier.Views) (*tensor.Tensor, error) {
		return nil, errors.New("forward pass broke")
	}
	for _, sent := range []string{"client-id-42", ""} {
		body, ct := multipartBody("image", jpegImage(40, 40))
		req, err := http.NewRequest("POST", hs.URL+"/v1/classify", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		if sent != "" {
			req.Header.Set(RequestIDHeader, sent)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get(RequestIDHeader)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("sent id %q: status %d, want 500", sent, resp.StatusCode)
		}
		if sent != "" && got != sent {
			t.Errorf("sent id %q: response echoes %q", sent, got)
		}
		if sent == "" && !generatedID.MatchString(got) {
			t.Errorf("no id sent: response carries %q, want 32 hex digits", got)
		}
		var line map[string]any
		for _, r := range logs.records(t) {
			if r["request_id"] == got {
				line = r
			}
		}
		if line == nil {
			t.Fatalf("no log line with request_id %q in:\n%s", got, logs.String())
		}
		if line["level"] != "ERROR" || !strings.Contains(fmt.Sprint(line["err"]), "forward pass broke") {
			t.Errorf("request %q logged %v, want the forward pass's error at ERROR", got, line)
		}
	}
}

// TestHostileRequestID: an incoming id that could forge or bloat log lines
// is replaced by a generated one; a sane one at the length limit is kept.
func TestHostileRequestID(t *testing.T) {
	s, _ := testServer(t, Options{Log: discardLog()})
	for _, tc := range []struct {
		name, id string
		kept     bool
	}{
		{"at the length limit", strings.Repeat("a", maxRequestIDLen), true},
		{"printable", "req-7f3a/B_9:x", true},
		{"too long", strings.Repeat("a", maxRequestIDLen+1), false},
		{"escape sequence", "id\x1b[31mred", false},
		{"newline", "id\nlevel=ERROR msg=forged", false},
		{"tab", "id\tx", false},
		{"space", "id x", false},
		{"non-ASCII", "idé", false},
		{"DEL", "id\x7f", false},
	} {
		// A recorder, since an HTTP client refuses to send most of these
		// ids: a hostile client is not that polite.
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header[RequestIDHeader] = []string{tc.id}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		got := w.Header().Get(RequestIDHeader)
		if tc.kept && got != tc.id {
			t.Errorf("%s: %q replaced by %q", tc.name, tc.id, got)
		}
		if !tc.kept && (got == tc.id || !generatedID.MatchString(got)) {
			t.Errorf("%s: %q answered with id %q, want a generated one", tc.name, tc.id, got)
		}
	}
}
