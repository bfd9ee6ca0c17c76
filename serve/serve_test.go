package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
)

func testServerClassifier(t testing.TB) *classifier.Classifier {
	t.Helper()
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"cardboard", "glass", "metal", "paper", "plastic", "trash"}, Head: classifier.Head{Units: 16}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return clf
}

func testServer(t testing.TB, o Options) (*Server, *httptest.Server) {
	t.Helper()
	clf := testServerClassifier(t)
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute // generous: the test machine may be loaded
	}
	s, err := New(clf, "", o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Close() })
	return s, hs
}

func jpegImage(w, h int) []byte {
	img := &data.RGB{W: w, H: h, Pix: bytes.Repeat([]byte{120, 80, 40}, w*h)}
	var b bytes.Buffer
	img.Encode(&b, 90)
	return b.Bytes()
}

func multipartBody(field string, content []byte) (io.Reader, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile(field, "photo.jpg")
	w.Write(content)
	mw.Close()
	return &b, mw.FormDataContentType()
}

func TestStatuses(t *testing.T) {
	_, hs := testServer(t, Options{MaxBodyBytes: 200_000})
	img := jpegImage(80, 60)
	mp, mpType := multipartBody("image", img)
	wrong, wrongType := multipartBody("photo", img)
	cases := []struct {
		name, method, path, ctype string
		body                      io.Reader
		status                    int
		kind                      string
	}{
		{"multipart", "POST", "/v1/classify", mpType, mp, 200, ""},
		{"raw body", "POST", "/v1/classify", "image/jpeg", bytes.NewReader(img), 200, ""},
		{"wrong field", "POST", "/v1/classify", wrongType, wrong, 400, "missing_field"},
		{"empty body", "POST", "/v1/classify", "image/jpeg", bytes.NewReader(nil), 400, "empty_body"},
		{"not an image", "POST", "/v1/classify", "text/plain", strings.NewReader("hello"), 415, "not_an_image"},
		{"corrupt image", "POST", "/v1/classify", "image/jpeg", bytes.NewReader(img[:len(img)/2]), 400, "corrupt_image"},
		{"too large body", "POST", "/v1/classify", "image/jpeg", bytes.NewReader(make([]byte, 300_000)), 413, "too_large"},
		{"too many pixels", "POST", "/v1/classify", "image/png", bytes.NewReader(testimages.PNGBomb()), 413, "too_large"},
		{"wrong method", "GET", "/v1/classify", "", nil, 405, "method_not_allowed"},
		{"model", "GET", "/v1/model", "", nil, 200, ""},
		{"health", "GET", "/healthz", "", nil, 200, ""},
		{"page", "GET", "/", "", nil, 200, ""},
		{"metrics", "GET", "/metrics", "", nil, 200, ""},
		{"missing", "GET", "/nope", "", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, hs.URL+tc.path, tc.body)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := hs.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.kind != "" {
				var e struct {
					Error struct{ Kind, Message string }
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Kind != tc.kind || e.Error.Message == "" {
					t.Errorf("error body %s, want kind %q", body, tc.kind)
				}
			}
			if tc.name == "multipart" {
				var r struct {
					Label         string
					Confidence    float64
					Probabilities map[string]float64
					Model         string
					LatencyMS     float64 `json:"latency_ms"`
				}
				json.Unmarshal(body, &r)
				sum := 0.0
				for _, p := range r.Probabilities {
					sum += p
				}
				if r.Label == "" || len(r.Probabilities) != 6 || sum < 0.999 || sum > 1.001 || r.Model == "" {
					t.Errorf("response %s", body)
				}
			}
		})
	}
	resp, _ := http.Get(hs.URL + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`trashsort_http_requests_total{code="200",handler="classify"}`, `trashsort_errors_total{kind="not_an_image"}`, "trashsort_http_request_duration_seconds_bucket"} {
		if !bytes.Contains(b, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// loadTest sends n requests with c concurrent clients and returns the
// sorted latencies and the error count.
func loadTest(t testing.TB, url string, n, c int) ([]time.Duration, int, time.Duration) {
	img := jpegImage(120, 90)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	next := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				t0 := time.Now()
				resp, err := client.Post(url+"/v1/classify", "image/jpeg", bytes.NewReader(img))
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				if !ok {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, errs, time.Since(start)
}

// TestLoopbackLoad sends 2,000 requests at 16 concurrent clients: no errors.
func TestLoopbackLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	_, hs := testServer(t, Options{QueueSize: 64})
	lat, errs, wall := loadTest(t, hs.URL, 2000, 16)
	if errs != 0 {
		t.Errorf("%d of 2000 requests failed", errs)
	}
	t.Logf("2000 requests, 16 concurrent: p50 %v p99 %v, %.0f req/s", lat[len(lat)/2], lat[len(lat)*99/100], 2000/wall.Seconds())
}

// BenchmarkServe measures latency and throughput over loopback with and
// without micro-batching. TRASHSORT_BENCH_MODEL names a model file to serve
// (default: a small untrained MobileNetV2); TRASHSORT_BENCH_INT8_MAX_ERR,
// when set, serves it in int8 with that error bound (serve --int8
// --int8-max-err; 0: the model's own, serve --int8).
func BenchmarkServe(b *testing.B) {
	for _, mb := range []int{1, 16} {
		for _, c := range []int{1, 16} {
			b.Run(fmt.Sprintf("maxbatch=%d/concurrency=%d", mb, c), func(b *testing.B) {
				var hs *httptest.Server
				if p := os.Getenv("TRASHSORT_BENCH_MODEL"); p != "" {
					clf, err := classifier.Load(p)
					if err != nil {
						b.Fatal(err)
					}
					if v := os.Getenv("TRASHSORT_BENCH_INT8_MAX_ERR"); v != "" {
						e, err := strconv.ParseFloat(v, 32)
						if err != nil {
							b.Fatalf("TRASHSORT_BENCH_INT8_MAX_ERR: %v", err)
						}
						if e > 0 {
							clf.SetInt8MaxErr(float32(e))
						}
						if err := clf.UseInt8(); err != nil {
							b.Fatal(err)
						}
					}
					s, err := New(clf, p, Options{MaxBatch: mb, QueueSize: 256, Timeout: time.Minute})
					if err != nil {
						b.Fatal(err)
					}
					hs = httptest.NewServer(s.Handler())
					defer func() { hs.Close(); s.Close() }()
				} else {
					_, hs = testServer(b, Options{MaxBatch: mb, QueueSize: 256})
				}
				n := max(b.N, 4*c)
				b.ResetTimer()
				lat, errs, wall := loadTest(b, hs.URL, n, c)
				if errs > 0 {
					b.Fatalf("%d errors", errs)
				}
				b.ReportMetric(float64(n)/wall.Seconds(), "req/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(meanBatch(b, hs.URL), "images/batch")
			})
		}
	}
}

// meanBatch reads the mean forward-pass batch size from the server's
// Prometheus metrics.
func meanBatch(t testing.TB, url string) float64 {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum, count float64
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "trashsort_batch_size_sum "); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "trashsort_batch_size_count "); ok {
			count, _ = strconv.ParseFloat(v, 64)
		}
	}
	if count == 0 {
		t.Fatalf("no batch size in the metrics:\n%s", body)
	}
	return sum / count
}
