// Package serve is the HTTP service around a classifier: a JSON API
// (/v1/classify, /v1/model, /healthz, /metrics) and an embedded web page.
// Concurrent requests are micro-batched into one forward pass; the queue is
// bounded and a full queue answers 503.
package serve

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/tensor"
)

//go:embed web
var webFS embed.FS

// Options configure a Server.
type Options struct {
	// MaxBodyBytes bounds a request body (default 10 MB).
	MaxBodyBytes int64
	// MaxPixels bounds a decoded image (default data.MaxPixels).
	MaxPixels int
	// Timeout bounds one classification, queueing included (default 10 s).
	Timeout time.Duration
	// MaxBatch is the largest micro-batch (default 16; 1 turns batching off).
	MaxBatch int
	// BatchWait is how long the batcher waits for more requests (default 2 ms).
	BatchWait time.Duration
	// QueueSize bounds waiting requests; beyond it the server answers 503 (default 64).
	QueueSize int
	// Hints are short disposal hints per class, shown on the web page.
	Hints map[string]string
}

// DefaultHints are disposal hints for TrashNet's classes.
var DefaultHints = map[string]string{
	"cardboard": "Flatten it and put it out with paper and cardboard recycling; keep it dry.",
	"glass":     "Rinse it and take it to the glass bank; lids go with metal or plastic.",
	"metal":     "Rinse cans and tins and put them in the metal and packaging recycling.",
	"paper":     "Paper recycling, clean and dry; greasy or wet paper goes in the compost or residual bin.",
	"plastic":   "Empty and rinse it; packaging plastic goes in the plastic recycling.",
	"trash":     "Residual waste: it cannot be recycled.",
}

// Server serves one classifier.
type Server struct {
	clf     *classifier.Classifier
	opts    Options
	modelID string
	queue   chan *job
	metrics *metrics
	mux     *http.ServeMux
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

type job struct {
	x    []float32
	ctx  context.Context
	done chan result
}

type result struct {
	probs []float32
	err   error
	batch int
}

// New returns a server for clf; modelPath (may be "") names its file for the model id.
func New(clf *classifier.Classifier, modelPath string, o Options) (*Server, error) {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 10 << 20
	}
	if o.MaxPixels == 0 {
		o.MaxPixels = data.MaxPixels
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 16
	}
	if o.BatchWait == 0 {
		o.BatchWait = 2 * time.Millisecond
	}
	if o.QueueSize == 0 {
		o.QueueSize = 64
	}
	if o.Hints == nil {
		o.Hints = DefaultHints
	}
	s := &Server{clf: clf, opts: o, queue: make(chan *job, o.QueueSize), metrics: newMetrics(), stop: make(chan struct{})}
	s.modelID = modelID(clf, modelPath)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/classify", s.instrument("classify", s.classify))
	s.mux.HandleFunc("GET /v1/model", s.instrument("model", s.model))
	s.mux.HandleFunc("GET /healthz", s.instrument("healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "model": s.modelID})
	}))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /", http.FileServerFS(sub))
	s.mux.HandleFunc("GET /v1/classify", s.instrument("classify", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST with an image")
	}))
	s.wg.Add(1)
	go s.batcher()
	return s, nil
}

func modelID(clf *classifier.Classifier, path string) string {
	h := sha256.New()
	if f, err := os.Open(path); err == nil {
		io.Copy(h, f)
		f.Close()
	} else {
		fmt.Fprint(h, clf.Meta.Backbone, clf.Meta.Classes, clf.Meta.Summary.Date)
	}
	return clf.Meta.Backbone + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Handler is the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops the batcher after the queued work is done.
func (s *Server) Close() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// batcher collects queued jobs into batches and runs them.
func (s *Server) batcher() {
	defer s.wg.Done()
	size := s.clf.Meta.Size
	per := size * size * 3
	for {
		var first *job
		select {
		case first = <-s.queue:
		case <-s.stop:
			return
		}
		jobs := []*job{first}
		timer := time.NewTimer(s.opts.BatchWait)
	collect:
		for len(jobs) < s.opts.MaxBatch {
			select {
			case j := <-s.queue:
				jobs = append(jobs, j)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		// Drop jobs whose callers gave up.
		live := jobs[:0]
		for _, j := range jobs {
			if j.ctx.Err() == nil {
				live = append(live, j)
			} else {
				j.done <- result{err: j.ctx.Err()}
			}
		}
		if len(live) == 0 {
			continue
		}
		x := tensor.New(len(live), size, size, 3)
		for i, j := range live {
			copy(x.Data[i*per:(i+1)*per], j.x)
		}
		s.metrics.batch.Observe(float64(len(live)))
		p, err := s.clf.Predict(x)
		k := len(s.clf.Meta.Classes)
		for i, j := range live {
			if err != nil {
				j.done <- result{err: err}
				continue
			}
			j.done <- result{probs: append([]float32(nil), p.Data[i*k:(i+1)*k]...), batch: len(live)}
		}
	}
}

type apiErr struct {
	status int
	kind   string
	msg    string
}

func (e *apiErr) Error() string { return e.msg }

func apiError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"kind": kind, "message": msg, "status": status}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readImage extracts the image bytes from a multipart field "image" or a raw body.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request) ([]byte, *apiErr) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	tooBig := func(err error) *apiErr {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body exceeds %d bytes", s.opts.MaxBodyBytes)}
		}
		return &apiErr{http.StatusBadRequest, "bad_request", "reading the request: " + err.Error()}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if err := r.ParseMultipartForm(s.opts.MaxBodyBytes); err != nil {
			return nil, tooBig(err)
		}
		f, _, err := r.FormFile("image")
		if err != nil {
			var fields []string
			if r.MultipartForm != nil {
				for k := range r.MultipartForm.File {
					fields = append(fields, k)
				}
				for k := range r.MultipartForm.Value {
					fields = append(fields, k)
				}
			}
			return nil, &apiErr{http.StatusBadRequest, "missing_field", fmt.Sprintf("multipart field \"image\" is missing (got %v)", fields)}
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, tooBig(err)
		}
		return b, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, tooBig(err)
	}
	if len(b) == 0 {
		return nil, &apiErr{http.StatusBadRequest, "empty_body", "send an image as the body or as multipart field \"image\""}
	}
	return b, nil
}

func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b, aerr := s.readImage(w, r)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	img, err := data.DecodeLimited(b, s.opts.MaxPixels)
	if err != nil {
		kind, status := "not_an_image", http.StatusUnsupportedMediaType
		if strings.Contains(err.Error(), "pixel limit") {
			kind, status = "too_large", http.StatusRequestEntityTooLarge
		} else if strings.Contains(err.Error(), "corrupt") {
			kind, status = "corrupt_image", http.StatusBadRequest
		}
		s.fail(w, &apiErr{status, kind, err.Error()})
		return
	}
	size := s.clf.Meta.Size
	img = data.Resize(img, size, size, s.clf.Meta.Resize)
	x := make([]float32, len(img.Pix))
	for i, v := range img.Pix {
		x[i] = float32(v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	j := &job{x: x, ctx: ctx, done: make(chan result, 1)}
	select {
	case s.queue <- j:
	default:
		s.fail(w, &apiErr{http.StatusServiceUnavailable, "overloaded", "the server is busy: retry shortly"})
		return
	}
	var res result
	select {
	case res = <-j.done:
	case <-ctx.Done():
		s.fail(w, &apiErr{http.StatusServiceUnavailable, "timeout", "classification did not finish in time"})
		return
	}
	if res.err != nil {
		s.fail(w, &apiErr{http.StatusInternalServerError, "internal", res.err.Error()})
		return
	}
	best := 0
	probs := map[string]float64{}
	for i, p := range res.probs {
		probs[s.clf.Meta.Classes[i]] = float64(p)
		if p > res.probs[best] {
			best = i
		}
	}
	label := s.clf.Meta.Classes[best]
	writeJSON(w, http.StatusOK, map[string]any{
		"label":         label,
		"confidence":    res.probs[best],
		"probabilities": probs,
		"hint":          s.opts.Hints[label],
		"model":         s.modelID,
		"batch":         res.batch,
		"latency_ms":    float64(time.Since(start).Microseconds()) / 1000,
	})
}

func (s *Server) fail(w http.ResponseWriter, e *apiErr) {
	s.metrics.errors.WithLabelValues(e.kind).Inc()
	apiError(w, e.status, e.kind, e.msg)
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	m := s.clf.Meta
	writeJSON(w, http.StatusOK, map[string]any{
		"id": s.modelID, "backbone": m.Backbone, "classes": m.Classes, "input_size": m.Size,
		"preprocessing": m.Preprocess, "val_accuracy": m.Summary.ValAccuracy, "trained": m.Summary.Date,
		"hints": s.opts.Hints,
	})
}

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	batch    prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trashsort_http_requests_total", Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trashsort_http_request_duration_seconds", Help: "HTTP request latency.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"handler"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trashsort_errors_total", Help: "Failed classifications by kind.",
		}, []string{"kind"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "trashsort_batch_size", Help: "Images per forward pass.", Buckets: []float64{1, 2, 4, 8, 16, 32},
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.errors, m.batch, prometheus.NewGoCollector())
	return m
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	w.code = c
	w.ResponseWriter.WriteHeader(c)
}

func (s *Server) instrument(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.metrics.requests.WithLabelValues(name, fmt.Sprint(sw.code)).Inc()
		s.metrics.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

// ListenAndServe serves on addr until ctx is cancelled, then shuts down
// gracefully, finishing the requests in flight.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(addr string)) error {
	srv := &http.Server{Addr: addr, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	s.Close()
	return err
}
