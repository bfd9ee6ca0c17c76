package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"trashsort/classifier"
	"trashsort/internal/testimages"
	"trashsort/tensor"
)

func post(t *testing.T, hs *httptest.Server, body []byte) (int, string) {
	t.Helper()
	resp, err := hs.Client().Post(hs.URL+"/v1/classify", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func errorKind(body string) string {
	var e struct{ Error struct{ Kind string } }
	json.Unmarshal([]byte(body), &e)
	return e.Error.Kind
}

func TestNewRefusesBadOptions(t *testing.T) {
	clf := testServerClassifier(t)
	for _, o := range []Options{
		{QueueSize: -1}, {MaxBatch: -1}, {MaxBatch: 5000}, {Timeout: -time.Second}, {MaxPixels: -1},
		{DecodeConcurrency: -2}, {DecodeMemory: -1}, {ReadTimeout: -1}, {IdleTimeout: -1}, {QueueSize: 1 << 20},
	} {
		if s, err := New(clf, "", o); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestBatcherSurvivesPanic: a panicking forward pass answers 500 without
// its text, and the next request is served.
func TestBatcherSurvivesPanic(t *testing.T) {
	s, hs := testServer(t, Options{})
	good := s.forward
	var mu sync.Mutex
	s.forward = func(x classifier.Views) (*tensor.Tensor, error) {
		mu.Lock()
		defer mu.Unlock()
		if good == nil {
			return nil, nil
		}
		panic("secret internal state /etc/passwd")
	}
	code, body := post(t, hs, jpegImage(40, 40))
	if code != 500 || strings.Contains(body, "secret") || strings.Contains(body, "passwd") || errorKind(body) != "internal" {
		t.Fatalf("panicking batch: %d %s", code, body)
	}
	mu.Lock()
	s.forward = good
	mu.Unlock()
	if code, body := post(t, hs, jpegImage(40, 40)); code != 200 {
		t.Fatalf("after a panic: %d %s", code, body)
	}
}

func TestInternalErrorNotEchoed(t *testing.T) {
	s, hs := testServer(t, Options{})
	s.forward = func(classifier.Views) (*tensor.Tensor, error) {
		return nil, errors.New("dnnl: primitive failed at /home/build/secret.c:42")
	}
	code, body := post(t, hs, jpegImage(40, 40))
	if code != 500 || strings.Contains(body, "secret") || strings.Contains(body, "dnnl") {
		t.Fatalf("%d %s", code, body)
	}
}

// TestCloseDrainsQueue: requests queued when Close is called are answered
// by the forward pass, not dropped.
func TestCloseDrainsQueue(t *testing.T) {
	s, hs := testServer(t, Options{MaxBatch: 1, QueueSize: 8, Timeout: 5 * time.Minute})
	good := s.forward
	release := make(chan struct{})
	entered := make(chan struct{}, 16)
	s.forward = func(x classifier.Views) (*tensor.Tensor, error) {
		entered <- struct{}{}
		<-release
		return good(x)
	}
	const n = 4
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			code, _ := post(t, hs, jpegImage(40, 40))
			codes <- code
		}()
	}
	<-entered // one in the forward pass
	deadline := time.Now().Add(10 * time.Second)
	for len(s.queue) < n-1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with work queued")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	for i := 0; i < n; i++ {
		if c := <-codes; c != 200 {
			t.Errorf("queued request answered %d after Close, want 200", c)
		}
	}
	if code, body := post(t, hs, jpegImage(40, 40)); code != 503 || errorKind(body) != "shutting_down" {
		t.Errorf("after Close: %d %s", code, body)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	s, hs := testServer(t, Options{QueueSize: 1, MaxBatch: 1, Timeout: 5 * time.Minute})
	good := s.forward
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	s.forward = func(x classifier.Views) (*tensor.Tensor, error) {
		entered <- struct{}{}
		<-release
		return good(x)
	}
	done := make(chan int, 2)
	go func() { c, _ := post(t, hs, jpegImage(32, 32)); done <- c }()
	<-entered // the batcher is busy
	go func() { c, _ := post(t, hs, jpegImage(32, 32)); done <- c }()
	for len(s.queue) < 1 {
		time.Sleep(2 * time.Millisecond)
	}
	code, body := post(t, hs, jpegImage(32, 32))
	if code != 503 || errorKind(body) != "overloaded" {
		t.Errorf("full queue: %d %s, want 503 overloaded", code, body)
	}
	close(release)
	for i := 0; i < 2; i++ {
		if c := <-done; c != 200 {
			t.Errorf("queued request: %d", c)
		}
	}
}

func TestDefaultPixelLimit(t *testing.T) {
	_, hs := testServer(t, Options{})
	for _, tc := range []struct {
		w, h   int
		status int
	}{
		{5000, 5000, 413}, // 25 MP: over the 12.6 MP default
		{4000, 4000, 413}, // 16 MP
		{7000, 7000, 413}, // the 16-bit RGBA bomb's size
		{4096, 3072, 400}, // at the limit: header only, so corrupt
		{4032, 3024, 400}, // a 12 MP phone photo
		{70000, 10, 413},  // a side over 65536
	} {
		code, body := post(t, hs, testimages.PNGHeader(tc.w, tc.h, 16, 6))
		if code != tc.status {
			t.Errorf("%dx%d: %d %s, want %d", tc.w, tc.h, code, body, tc.status)
		}
	}
}

func TestDecodeMemoryBudget(t *testing.T) {
	// A 1000 x 1000 progressive JPEG takes about 15 MB to decode (its
	// coefficients and image); a 16-bit RGBA PNG of that size is decoded
	// row by row in well under 1 MB.
	_, hs := testServer(t, Options{DecodeMemory: 7 << 20})
	if code, body := post(t, hs, testimages.ProgressiveJPEG(1000, 1000)); code != 413 || !strings.Contains(body, "decode budget") {
		t.Errorf("progressive JPEG: %d %s", code, body)
	}
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, 1000, 1000)))
	if code, body := post(t, hs, b.Bytes()); code != 200 {
		t.Errorf("16-bit PNG: %d %s", code, body)
	}
}

// TestDecodeWithinDeadline: waiting for a decode slot and decoding count
// against the request's timeout.
func TestDecodeWithinDeadline(t *testing.T) {
	s, hs := testServer(t, Options{DecodeConcurrency: 1, Timeout: 300 * time.Millisecond})
	if err := s.decodeSlots.Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	code, body := post(t, hs, jpegImage(40, 40))
	if code != 503 || !strings.Contains(body, "decoding") || time.Since(t0) > 3*time.Second {
		t.Errorf("no decode slot: %d %s after %v, want 503 near 300ms", code, body, time.Since(t0))
	}
	s.decodeSlots.Release(1)

	// A decode that outlives the timeout is abandoned.
	s2, hs2 := testServer(t, Options{Timeout: time.Millisecond})
	_ = s2
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, 2000, 2000)))
	if code, body := post(t, hs2, b.Bytes()); code != 503 {
		t.Errorf("slow decode: %d %s, want 503", code, body)
	}
}

// TestSlowClientsClosed: a trickled header, a trickled body and an idle
// keep-alive connection are each closed within their timeout while other
// requests are answered.
func TestSlowClientsClosed(t *testing.T) {
	_, hs := timedServer(t, Options{
		ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond,
		IdleTimeout: 400 * time.Millisecond, WriteTimeout: 2 * time.Minute, Timeout: 2 * time.Minute,
	})
	addr := hs.Listener.Addr().String()

	// trickle writes parts every 100 ms until the server closes the
	// connection, and returns how long that took.
	trickle := func(first string, then string) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		t0 := time.Now()
		fmt.Fprint(c, first)
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, c)
			close(closed)
		}()
		for {
			select {
			case <-closed:
				return time.Since(t0)
			case <-time.After(100 * time.Millisecond):
				if time.Since(t0) > 30*time.Second {
					t.Error("connection still open after 30 s")
					return time.Since(t0)
				}
				c.Write([]byte(then))
			}
		}
	}
	var wg sync.WaitGroup
	results := make([]time.Duration, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		results[0] = trickle("POST /v1/classify HTTP/1.1\r\nHost: x\r\n", "X-A: b\r\n")
	}()
	go func() {
		defer wg.Done()
		results[1] = trickle("POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n", "x")
	}()
	go func() {
		defer wg.Done()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t0 := time.Now()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c) // returns when the server closes the idle connection
		results[2] = time.Since(t0)
	}()
	// Others are served meanwhile (on fresh connections: a kept-alive one
	// may meet the idle timeout between requests).
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 5; i++ {
		resp, err := client.Post(hs.URL+"/v1/classify", "image/jpeg", bytes.NewReader(jpegImage(40, 40)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("during slow clients: %d", resp.StatusCode)
		}
	}
	wg.Wait()
	for i, lim := range []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 400 * time.Millisecond} {
		if results[i] < lim/2 || results[i] > lim+15*time.Second {
			t.Errorf("connection %d closed after %v, want about %v", i, results[i], lim)
		}
	}
	t.Logf("slow header closed after %v, slow body after %v, idle keep-alive after %v", results[0], results[1], results[2])
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestWarm: the warm-up runs the largest batch and batch 1 at every input
// size, reports a failing forward pass or a cancelled context, and leaves
// the server answering.
func TestWarm(t *testing.T) {
	s, hs := testServer(t, Options{MaxBatch: 5, MaxPixels: 1 << 20, DecodeMemory: 4 << 20})
	good := s.forward
	var batches []string
	s.forward = func(x classifier.Views) (*tensor.Tensor, error) {
		for size, v := range x {
			batches = append(batches, fmt.Sprintf("%dx%d", v.Shape[0], size))
		}
		return good(x)
	}
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	size := s.sizes[0]
	if want := []string{fmt.Sprintf("5x%d", size), fmt.Sprintf("1x%d", size)}; fmt.Sprint(batches) != fmt.Sprint(want) {
		t.Errorf("warm-up batches %v, want %v", batches, want)
	}
	if code, body := post(t, hs, jpegImage(40, 40)); code != 200 {
		t.Fatalf("after the warm-up: %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Warm(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled warm-up: %v", err)
	}
	s.forward = func(classifier.Views) (*tensor.Tensor, error) { return nil, errors.New("no engine") }
	if err := s.Warm(context.Background()); err == nil || !strings.Contains(err.Error(), "no engine") {
		t.Errorf("failing forward pass: %v", err)
	}
}
