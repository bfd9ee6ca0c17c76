// Package serve is the HTTP service around a classifier: a JSON API
// (/v1/classify, /v1/model, /healthz, /metrics) and an embedded web page.
// Concurrent requests are micro-batched into one forward pass; the queue is
// bounded and a full queue answers 503. Images are checked against the pixel
// limit from their header, then decoded under a concurrency and memory
// budget inside the request's deadline.
package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/tensor"
)

//go:embed web
var webFS embed.FS

// Defaults for Options; docs/SERVING.md lists them.
const (
	DefaultMaxBodyBytes      = 10 << 20
	maxBodyLimit             = 1 << 30
	DefaultMaxPixels         = 4096 * 3072 // 12.6 MP: a 12 MP phone photo (4032 x 3024) fits
	DefaultDecodeMemory      = 512 << 20
	DefaultTimeout           = 10 * time.Second
	DefaultMaxBatch          = 16
	DefaultBatchWait         = 2 * time.Millisecond
	DefaultQueueSize         = 64
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 20 * time.Second
	DefaultWriteTimeout      = 40 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultUploadMemory      = 256 << 20
	DefaultMaxConns          = 512
	// DefaultCorrectionsMaxBytes bounds the corrections folder.
	DefaultCorrectionsMaxBytes = 1 << 30
	// DefaultCorrectionsMaxPerClass bounds the photos of one class folder.
	DefaultCorrectionsMaxPerClass = 10000
)

// Options configure a Server. Zero means the default; negative values are
// refused by New.
type Options struct {
	// MaxBodyBytes bounds a request body (default 10 MiB).
	MaxBodyBytes int64
	// MaxPixels bounds an image, checked from its header before decoding
	// (default DefaultMaxPixels, 4096 x 3072; a 12 MP phone photo fits).
	MaxPixels int
	// DecodeConcurrency bounds how many images are decoded at once
	// (default runtime.GOMAXPROCS, one per core).
	DecodeConcurrency int
	// DecodeMemory bounds the estimated memory of the decodes in progress
	// (default 512 MiB); an image whose own estimate exceeds it gets 413.
	DecodeMemory int64
	// Timeout bounds the work on one image once its bytes are read (each
	// image of a batch request on its own): waiting for a decode slot,
	// decoding, queueing and the forward pass (default 10 s). The upload
	// itself is bounded by ReadTimeout.
	Timeout time.Duration
	// MaxBatch is the largest micro-batch (default 16; 1 turns batching off).
	MaxBatch int
	// BatchWait is how long the batcher waits for more requests while
	// other images are being decoded (default 2 ms); with none being
	// decoded it runs the batch at once.
	BatchWait time.Duration
	// QueueSize bounds waiting requests; beyond it the server answers 503 (default 64).
	QueueSize int
	// ReadHeaderTimeout, ReadTimeout (headers and body), WriteTimeout (from
	// the end of the headers to the end of the answer) and IdleTimeout
	// (between keep-alive requests) bound each connection (defaults 5 s,
	// 20 s, 40 s, 60 s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// UploadMemory bounds the request-body bytes received by all requests
	// in progress together (default 256 MiB); a request that would pass it
	// gets 503 and Retry-After, so idle or slow uploads cannot pile up memory.
	UploadMemory int64
	// MaxConns bounds the open connections ListenAndServe accepts at once
	// (default 512); further clients wait in the kernel's backlog.
	MaxConns int
	// Hints are short disposal hints per class, shown on the web page.
	Hints map[string]string
	// Log receives the service's lines (default: text on standard error
	// at level Info): internal errors at Error, each with the request_id of
	// its request; startup notes at Info; one line per request at Debug;
	// the HTTP server's own errors (TLS handshakes, accept) at Warn.
	Log *slog.Logger
	// CorrectionsDir, when set, turns on POST /v1/feedback, which stores
	// corrected photos there as class folders, re-encoded (pixels only);
	// FeedbackPerMinute limits how many (default DefaultFeedbackPerMinute,
	// all clients together). New creates the folder if needed, refuses one
	// it cannot write to, and removes the temporary files of writes that
	// were killed.
	CorrectionsDir    string
	FeedbackPerMinute int
	// CorrectionsMaxBytes bounds the bytes the corrections folder may hold
	// (default 1 GiB, counting what it held at start); beyond it feedback
	// answers 507.
	CorrectionsMaxBytes int64
	// CorrectionsMaxPerClass bounds the photos one class folder may hold
	// (default DefaultCorrectionsMaxPerClass): one class cannot crowd out
	// the others, nor a folder grow past what listing it costs.
	CorrectionsMaxPerClass int
	// FeedbackTokens, when set, makes POST /v1/feedback accept only photos
	// this server has answered: each /v1/classify answer carries a
	// feedback_token (a keyed hash of the uploaded bytes and the answered
	// class) that the correction must send back with the same bytes.
	// Tokens are issued whenever corrections are on; this makes them required.
	FeedbackTokens bool
	// FeedbackKey keys the tokens (at least 16 bytes); replicas behind one
	// address share it so that any of them accepts another's tokens. Empty:
	// a random key, so tokens hold until the server restarts.
	FeedbackKey []byte
	// MaxFiles bounds the images of one batch request (default DefaultMaxFiles);
	// each image has the single-image limits.
	MaxFiles int
	// MinConfidence is the "unsure" threshold on calibrated confidence:
	// 0 is the model's own (chosen on validation), a negative value none.
	MinConfidence float64
}

// withDefaults fills zero fields and refuses negative or absurd ones.
func (o Options) withDefaults() (Options, error) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"max body bytes", o.MaxBodyBytes}, {"max pixels", int64(o.MaxPixels)},
		{"decode concurrency", int64(o.DecodeConcurrency)}, {"decode memory", o.DecodeMemory},
		{"timeout", int64(o.Timeout)}, {"max batch", int64(o.MaxBatch)}, {"batch wait", int64(o.BatchWait)},
		{"queue size", int64(o.QueueSize)}, {"read header timeout", int64(o.ReadHeaderTimeout)},
		{"read timeout", int64(o.ReadTimeout)}, {"write timeout", int64(o.WriteTimeout)}, {"idle timeout", int64(o.IdleTimeout)},
		{"feedback per minute", int64(o.FeedbackPerMinute)}, {"max files", int64(o.MaxFiles)},
		{"upload memory", o.UploadMemory}, {"max conns", int64(o.MaxConns)}, {"corrections max bytes", o.CorrectionsMaxBytes},
		{"corrections max per class", int64(o.CorrectionsMaxPerClass)},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("serve: %s %d is negative (0 means the default)", f.name, f.v)
		}
	}
	// A batch request may carry MaxFiles bodies of MaxBodyBytes: both
	// bounded so that their product cannot overflow.
	if o.MaxBodyBytes > maxBodyLimit {
		return o, fmt.Errorf("serve: max body bytes %d exceeds %d (1 GiB)", o.MaxBodyBytes, int64(maxBodyLimit))
	}
	if len(o.FeedbackKey) > 0 && len(o.FeedbackKey) < 16 {
		return o, fmt.Errorf("serve: feedback key of %d bytes is too short (at least 16)", len(o.FeedbackKey))
	}
	if o.MaxFiles > 1024 {
		return o, fmt.Errorf("serve: max files %d exceeds 1024", o.MaxFiles)
	}
	if o.MaxBatch > 1024 {
		return o, fmt.Errorf("serve: max batch %d exceeds 1024", o.MaxBatch)
	}
	if o.QueueSize > 1<<16 {
		return o, fmt.Errorf("serve: queue size %d exceeds %d", o.QueueSize, 1<<16)
	}
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&o.DecodeMemory, DefaultDecodeMemory)
	def(&o.UploadMemory, DefaultUploadMemory)
	def(&o.CorrectionsMaxBytes, DefaultCorrectionsMaxBytes)
	defInt(&o.MaxConns, DefaultMaxConns)
	defInt(&o.CorrectionsMaxPerClass, DefaultCorrectionsMaxPerClass)
	defInt(&o.MaxPixels, DefaultMaxPixels)
	defInt(&o.DecodeConcurrency, runtime.GOMAXPROCS(0))
	defInt(&o.MaxBatch, DefaultMaxBatch)
	defInt(&o.QueueSize, DefaultQueueSize)
	defDur(&o.Timeout, DefaultTimeout)
	defDur(&o.BatchWait, DefaultBatchWait)
	defDur(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	defDur(&o.ReadTimeout, DefaultReadTimeout)
	defDur(&o.WriteTimeout, DefaultWriteTimeout)
	defDur(&o.IdleTimeout, DefaultIdleTimeout)
	if o.Hints == nil {
		o.Hints = DefaultHints
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return o, nil
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
	// handler is mux behind withRequestID.
	handler http.Handler
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	// mu guards closed; senders hold it for reading so that Close can
	// wait for them before the batcher drains the queue.
	mu     sync.RWMutex
	closed bool
	// decodeSlots and decodeMem bound concurrent decodes by count and by
	// estimated bytes.
	decodeSlots, decodeMem *semaphore.Weighted
	// uploads bounds the request-body bytes received and not yet released.
	uploads *semaphore.Weighted
	// explainSlot admits one Grad-CAM heat map at a time.
	explainSlot *semaphore.Weighted
	// decoding counts the images being decoded (or waiting to be): the
	// batcher waits for more requests only while it is above zero.
	decoding atomic.Int64
	// feedbackLimit and feedbackStored serve POST /v1/feedback.
	feedbackLimit   *limiter
	feedbackClients *clientLimits
	// corrections is the corrections folder and what it holds (nil
	// without Options.CorrectionsDir).
	corrections    *corrections
	feedbackStored *prometheus.CounterVec
	// feedbackKey keys the feedback tokens (Options.FeedbackKey or random).
	feedbackKey []byte
	// forward runs one batch: calibrated probabilities from the images at
	// every input size (tests replace it).
	forward func(classifier.Views) (*tensor.Tensor, error)
	// openForward, set when the model has an open-set detector, is forward
	// with each image's verdict of that detector.
	openForward func(classifier.Views) (*tensor.Tensor, []bool, error)
	// batchClassify, when set (by tests), replaces classifyOne for the
	// images of a batch request.
	batchClassify func(context.Context, []byte) (answer, *apiErr)
	// sizes are the input sizes images are decoded at (clf.InputSizes).
	sizes []int
}

type job struct {
	x    [][]float32 // the image at each of Server.sizes
	ctx  context.Context
	done chan result
}

type result struct {
	probs []float32
	// unknown: the model's open-set detector found the image to be none of its classes.
	unknown bool
	err     error
	batch   int
}

// New returns a server for clf; modelPath (may be "") names its file, or
// the comma-separated files of an ensemble, for the model id.
func New(clf *classifier.Classifier, modelPath string, o Options) (*Server, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{clf: clf, opts: o, queue: make(chan *job, o.QueueSize), metrics: newMetrics(), stop: make(chan struct{}),
		decodeSlots: semaphore.NewWeighted(int64(o.DecodeConcurrency)), decodeMem: semaphore.NewWeighted(o.DecodeMemory),
		uploads: semaphore.NewWeighted(o.UploadMemory), explainSlot: semaphore.NewWeighted(1),
		forward: func(v classifier.Views) (*tensor.Tensor, error) {
			p, err := clf.PredictViews(v)
			if err == nil {
				clf.Calibrate(p.Data)
			}
			return p, err
		}, sizes: clf.InputSizes()}
	if clf.HasOpenSet() {
		s.openForward = func(v classifier.Views) (*tensor.Tensor, []bool, error) {
			o, err := clf.PredictOutputs(v)
			if err != nil {
				return nil, nil, err
			}
			clf.Calibrate(o.Probs.Data)
			n, d := o.Features.Shape[0], o.Features.Shape[1]
			unknown := make([]bool, n)
			for i := range unknown {
				_, unknown[i] = clf.OpenSetScore(o.Features.Data[i*d : (i+1)*d])
			}
			return o.Probs, unknown, nil
		}
	}
	s.modelID = modelID(clf, modelPath)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/classify", s.instrument("classify", s.classify))
	s.mux.HandleFunc("POST /v1/classify/batch", s.instrument("classify_batch", s.classifyBatch))
	if err := s.initFeedback(); err != nil {
		return nil, err
	}
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
	s.handler = withRequestID(s.mux)
	s.wg.Add(1)
	go s.batcher()
	return s, nil
}

// collectAfterDecode is the estimated decode memory (Inspect's
// ResizedBytes) above which the server collects garbage right after the
// decode: a large progressive JPEG, not a phone photo's baseline one.
const collectAfterDecode = 64 << 20

// Warm prepares the server for its first burst of requests, as a model
// server's warm-up does: one forward pass at the largest batch (the
// activation arena reaches its full size and the engine builds its
// kernels) and at batch 1, and the decode memory budget touched once
// (at most DecodeConcurrency images at the pixel limit), so that the first
// large images are decoded into memory the process already holds instead
// of taking page faults (on a 2-core machine those faults cost as much as
// decoding a burst of 12 MP photos itself). Call it after New, before
// serving; it takes a few seconds for InceptionV3.
func (s *Server) Warm(ctx context.Context) error {
	for _, n := range []int{s.opts.MaxBatch, 1} {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := classifier.Views{}
		for _, size := range s.sizes {
			x[size] = tensor.New(n, size, size, 3)
		}
		if _, _, err := s.predict(x); err != nil {
			return fmt.Errorf("serve: warm-up forward pass at batch %d: %w", n, err)
		}
	}
	per := int64(s.opts.MaxPixels) * 8 // a progressive JPEG's coefficients and image
	slots := min(int64(s.opts.DecodeConcurrency), max(s.opts.DecodeMemory/per, 1))
	blocks := make([][]byte, slots)
	for i := range blocks {
		blocks[i] = make([]byte, min(per, s.opts.DecodeMemory))
		for j := 0; j < len(blocks[i]); j += 4096 {
			blocks[i][j] = 1
		}
	}
	runtime.KeepAlive(blocks)
	runtime.GC()
	return nil
}

func modelID(clf *classifier.Classifier, path string) string {
	h := sha256.New()
	for _, p := range strings.Split(path, ",") {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprint(h, clf.Meta.Backbone, clf.Meta.Classes, clf.Meta.Summary.Date)
			break
		}
		io.Copy(h, f)
		f.Close()
	}
	id := clf.Meta.Backbone
	if n := clf.Members(); n > 1 {
		id += fmt.Sprintf("-ensemble%d", n)
	}
	return id + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Handler is the HTTP handler. Every response carries the request's id in
// RequestIDHeader.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops taking new work (503 shutting_down), lets the batcher finish
// every queued request, and waits for it.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
	})
	s.wg.Wait()
	if s.corrections != nil {
		s.corrections.root.Close() // a second Close only reports it closed
	}
}

// submit queues j, or says why not.
func (s *Server) submit(j *job) *apiErr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return &apiErr{http.StatusServiceUnavailable, "shutting_down", "the server is shutting down"}
	}
	select {
	case s.queue <- j:
		return nil
	default:
		return &apiErr{http.StatusServiceUnavailable, "overloaded", "the server is busy: retry shortly"}
	}
}

// batcher collects queued jobs into batches and runs them; after Close it
// drains the queue and returns.
func (s *Server) batcher() {
	defer s.wg.Done()
	for {
		select {
		case first := <-s.queue:
			s.runBatch(s.collect(first))
		case <-s.stop:
			for {
				select {
				case j := <-s.queue:
					s.runBatch(s.collect(j))
				default:
					return
				}
			}
		}
	}
}

// collect gathers up to MaxBatch jobs: those already queued and, while
// other images are being decoded (they will join the queue soon), those
// that arrive within BatchWait. A lone request runs at once.
func (s *Server) collect(first *job) []*job {
	jobs := []*job{first}
	var timer *time.Timer
	for len(jobs) < s.opts.MaxBatch {
		select {
		case j := <-s.queue:
			jobs = append(jobs, j)
			continue
		default:
		}
		if s.decoding.Load() == 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(s.opts.BatchWait)
			defer timer.Stop()
		}
		select {
		case j := <-s.queue:
			jobs = append(jobs, j)
			continue
		case <-timer.C:
		}
		break
	}
	return jobs
}

// runBatch runs the live jobs as one forward pass and answers each.
func (s *Server) runBatch(jobs []*job) {
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
		return
	}
	x := classifier.Views{}
	for k, size := range s.sizes {
		per := size * size * 3
		t := tensor.New(len(live), size, size, 3)
		for i, j := range live {
			copy(t.Data[i*per:(i+1)*per], j.x[k])
		}
		x[size] = t
	}
	s.metrics.batch.Observe(float64(len(live)))
	p, unknown, err := s.predict(x)
	k := len(s.clf.Meta.Classes)
	if err == nil && (p == nil || len(p.Data) != len(live)*k) {
		err = fmt.Errorf("forward pass returned %d values for %d images of %d classes", lenData(p), len(live), k)
	}
	for i, j := range live {
		if err != nil {
			j.done <- result{err: err}
			continue
		}
		j.done <- result{probs: append([]float32(nil), p.Data[i*k:(i+1)*k]...), unknown: unknown != nil && unknown[i], batch: len(live)}
	}
}

func lenData(t *tensor.Tensor) int {
	if t == nil {
		return 0
	}
	return len(t.Data)
}

// predict runs the forward pass, turning a panic into an error so that one
// bad batch does not take the service down.
func (s *Server) predict(x classifier.Views) (p *tensor.Tensor, unknown []bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.metrics.panics.Inc()
			err = fmt.Errorf("panic in the forward pass: %v\n%s", r, debug.Stack())
		}
	}()
	if s.openForward != nil {
		return s.openForward(x)
	}
	p, err = s.forward(x)
	return p, nil, err
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
	b, err := json.Marshal(v)
	if err != nil {
		// A value JSON cannot hold (a non-finite probability from a broken
		// model) is the server's failure, said as one, never a 200 with an
		// empty body.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"error": map[string]any{"kind": "internal", "message": "the answer could not be encoded: " + err.Error(), "status": status}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readImage extracts the image bytes from a multipart field "image" or a raw body.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request) ([]byte, *apiErr) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	tooBig := func(err error) *apiErr { return bodyError(err, s.opts.MaxBodyBytes) }
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		// Stream the parts: only the image is kept in memory.
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, &apiErr{http.StatusBadRequest, "bad_request", "reading the multipart body: " + err.Error()}
		}
		var fields []string
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, tooBig(err)
			}
			if part.FormName() != "image" {
				if len(fields) < 16 {
					fields = append(fields, part.FormName())
				}
				if _, err := io.Copy(io.Discard, part); err != nil {
					return nil, tooBig(err)
				}
				continue
			}
			b, err := io.ReadAll(part)
			if err != nil {
				return nil, tooBig(err)
			}
			if len(b) == 0 {
				return nil, &apiErr{http.StatusBadRequest, "empty_body", "multipart field \"image\" is empty"}
			}
			return b, nil
		}
		return nil, &apiErr{http.StatusBadRequest, "missing_field", fmt.Sprintf("multipart field \"image\" is missing (got %q)", fields)}
	}
	// The buffer grows with the bytes that arrive, not with the length
	// the client declares: a declared length costs nothing until sent.
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, tooBig(err)
	}
	if buf.Len() == 0 {
		return nil, &apiErr{http.StatusBadRequest, "empty_body", "send an image as the body or as multipart field \"image\""}
	}
	return buf.Bytes(), nil
}

// decode checks the image's header against the pixel limit, waits (within
// ctx) for a decode slot and its memory, decodes, and returns the model's
// input pixels at each of its input sizes.
func (s *Server) decode(ctx context.Context, b []byte) ([][]float32, *apiErr) {
	h, err := data.Inspect(b, s.opts.MaxPixels)
	if err != nil {
		return nil, decodeError(err)
	}
	if h.ResizedBytes > s.opts.DecodeMemory {
		return nil, &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("decoding this %dx%d %s image takes about %d MiB, over the %d MiB decode budget",
			h.W, h.H, h.Format, h.ResizedBytes>>20, s.opts.DecodeMemory>>20)}
	}
	s.decoding.Add(1)
	defer s.decoding.Add(-1)
	release, aerr := s.acquireDecode(ctx, h.ResizedBytes)
	if aerr != nil {
		return nil, aerr
	}
	defer release()
	imgs, err := data.DecodeResizedSizes(ctx, b, s.opts.MaxPixels, s.sizes, s.clf.Meta.Resize)
	if h.ResizedBytes >= collectAfterDecode {
		// The decoder's buffers are garbage now: collecting at once lets
		// the next large decode reuse them instead of growing the heap
		// (peak RSS under 20 concurrent 12 MP bombs 0.7-1.2 GB, not 1.1-1.4).
		runtime.GC()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, &apiErr{http.StatusServiceUnavailable, "timeout", "decoding did not finish in time"}
		}
		return nil, decodeError(err)
	}
	xs := make([][]float32, len(imgs))
	for k, img := range imgs {
		xs[k] = img.AppendFloats(make([]float32, 0, len(img.Pix)))
	}
	return xs, nil
}

// acquireDecode waits (within ctx) for a decode slot and n bytes of the
// decode memory budget; release gives both back.
func (s *Server) acquireDecode(ctx context.Context, n int64) (release func(), aerr *apiErr) {
	busy := &apiErr{http.StatusServiceUnavailable, "timeout", "the server is busy decoding other images: retry shortly"}
	if err := s.decodeSlots.Acquire(ctx, 1); err != nil {
		return nil, busy
	}
	if err := s.decodeMem.Acquire(ctx, n); err != nil {
		s.decodeSlots.Release(1)
		return nil, busy
	}
	return func() {
		s.decodeMem.Release(n)
		s.decodeSlots.Release(1)
	}, nil
}

func decodeError(err error) *apiErr {
	switch {
	case errors.Is(err, data.ErrTooLarge):
		return &apiErr{http.StatusRequestEntityTooLarge, "too_large", err.Error()}
	case errors.Is(err, data.ErrCorrupt):
		return &apiErr{http.StatusBadRequest, "corrupt_image", err.Error()}
	}
	return &apiErr{http.StatusUnsupportedMediaType, "not_an_image", err.Error()}
}

func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b, aerr := s.readImage(w, r)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	classifyOne := s.classifyOne
	if r.URL.Query().Get("explain") == "1" {
		classifyOne = s.classifyExplained
	}
	a, aerr := classifyOne(ctx, b)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	if s.corrections != nil {
		a.FeedbackToken = s.feedbackToken(b, a.Guess)
	}
	a.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) fail(w http.ResponseWriter, e *apiErr) {
	s.metrics.errors.WithLabelValues(e.kind).Inc()
	if e.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Every 503 is a moment's overload (busy, queue full, uploads,
		// shutting down): a client library backs off and retries.
		w.Header().Set("Retry-After", "1")
	}
	apiError(w, e.status, e.kind, e.msg)
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	m := s.clf.Meta
	writeJSON(w, http.StatusOK, map[string]any{
		"id": s.modelID, "members": s.clf.Members(), "backbone": m.Backbone, "classes": m.Classes, "input_size": m.Size, "test_sizes": s.clf.TestSizes(),
		"preprocessing": m.Preprocess, "val_accuracy": m.Summary.ValAccuracy, "trained": m.Summary.Date,
		"hints": s.opts.Hints, "min_confidence": s.threshold(), "temperature": s.clf.Temperature(),
		"feedback": s.opts.CorrectionsDir != "",
		// What the CPU runs, for reading its latency: the ISA, and whether
		// int8 (when the model asks for it) has kernels here.
		"isa": classifier.ISA(), "int8": s.clf.Model.Int8 && classifier.HasInt8(),
	})
}

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	batch    prometheus.Histogram
	panics   prometheus.Counter
	// answers counts answers by the most probable class and by outcome
	// (answered, unsure, unknown): a rising share of unsure or unknown
	// answers for a class is a site drifting away from the training data.
	answers *prometheus.CounterVec
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
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trashsort_panics_total", Help: "Forward passes that panicked (answered 500).",
		}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trashsort_answers_total", Help: "Classified images by most probable class and outcome (answered, unsure, unknown).",
		}, []string{"class", "outcome"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.errors, m.batch, m.panics, m.answers, prometheus.NewGoCollector())
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
		s.withUploadBudget(h)(sw, r)
		s.metrics.requests.WithLabelValues(name, fmt.Sprint(sw.code)).Inc()
		took := time.Since(start)
		s.metrics.latency.WithLabelValues(name).Observe(took.Seconds())
		s.logRequest(r, name, sw.code, took)
	}
}

// HTTPServer returns an http.Server for the handler with the connection
// timeouts of the options and a 64 KiB header limit.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelWarn),
	}
}

// ListenAndServe serves on addr until ctx is cancelled, then shuts down
// gracefully, finishing the requests in flight.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(addr string)) error {
	srv := s.HTTPServer()
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	ln = netutil.LimitListener(ln, s.opts.MaxConns)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	s.Close()
	return err
}
