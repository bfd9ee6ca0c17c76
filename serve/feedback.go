package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"trashsort/atomicfile"
	"trashsort/data"
)

// initFeedback sets up POST /v1/feedback: the rate limit, a counter and the route.
func (s *Server) initFeedback() {
	per := s.opts.FeedbackPerMinute
	if per <= 0 {
		per = DefaultFeedbackPerMinute
	}
	s.feedbackLimit = newLimiter(per)
	s.feedbackClients = newClientLimits(max(per/clientShare, 1), maxTrackedClients)
	s.feedbackStored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trashsort_feedback_total", Help: "Corrections stored, by class.",
	}, []string{"class"})
	s.metrics.reg.MustRegister(s.feedbackStored)
	s.correctionsBytes.Store(folderBytes(s.opts.CorrectionsDir))
	s.mux.HandleFunc("POST /v1/feedback", s.instrument("feedback", s.feedback))
}

// DefaultFeedbackPerMinute bounds stored corrections per minute (all
// clients together; one client gets a fifth of it).
const DefaultFeedbackPerMinute = 30

// limiter is a token bucket: burst tokens, refilled at perMinute.
type limiter struct {
	mu        sync.Mutex
	tokens    float64
	burst     float64
	perMinute float64
	last      time.Time
}

func newLimiter(perMinute int) *limiter {
	return &limiter{tokens: float64(perMinute), burst: float64(perMinute), perMinute: float64(perMinute), last: time.Now()}
}

func (l *limiter) allow() bool { return l.take(true) }

// ready reports whether a token is there, without spending it.
func (l *limiter) ready() bool { return l.take(false) }

func (l *limiter) take(spend bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Minutes()*l.perMinute)
	l.last = now
	if l.tokens < 1 {
		return false
	}
	if spend {
		l.tokens--
	}
	return true
}

// clientShare: one client may store at most 1/clientShare of the
// corrections per minute that all clients together may.
const clientShare = 5

// maxTrackedClients bounds the per-client buckets kept in memory.
const maxTrackedClients = 4096

// clientLimits keeps a token bucket per client address, at most max of
// them: when full, the least recently seen client's bucket is dropped
// (it comes back full, which only matters to a client idle that long).
type clientLimits struct {
	mu        sync.Mutex
	perMinute int
	max       int
	buckets   map[string]*limiter
}

func newClientLimits(perMinute, max int) *clientLimits {
	return &clientLimits{perMinute: perMinute, max: max, buckets: map[string]*limiter{}}
}

// get returns the client's bucket, making room for a new one.
func (c *clientLimits) get(client string) *limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.buckets[client]; ok {
		return l
	}
	if len(c.buckets) >= c.max {
		oldest, when := "", time.Now()
		for k, l := range c.buckets {
			l.mu.Lock()
			last := l.last
			l.mu.Unlock()
			if !last.After(when) {
				oldest, when = k, last
			}
		}
		delete(c.buckets, oldest)
	}
	l := newLimiter(c.perMinute)
	c.buckets[client] = l
	return l
}

// clientOf is the client's address without its port.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// feedback answers POST /v1/feedback: multipart fields "image" (the photo
// just classified) and "label" (the right class). The photo is checked
// like a classification (body, pixel and decode limits) and stored
// atomically as <corrections>/<label>/<sha256 prefix>.<ext>, so a folder
// that `trashsort train --extra` reads grows with the service's own photos.
func (s *Server) feedback(w http.ResponseWriter, r *http.Request) {
	if s.opts.CorrectionsDir == "" {
		s.fail(w, &apiErr{http.StatusNotFound, "feedback_off", "this server does not collect corrections (start it with --corrections DIR)"})
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		s.fail(w, &apiErr{http.StatusBadRequest, "bad_request", "send multipart/form-data with fields \"image\" and \"label\""})
		return
	}
	// A token is spent only on a correction that is stored: bad requests
	// cannot use up the budget of good ones. A client (or everyone) out of
	// tokens is refused before its body is read.
	client := s.feedbackClients.get(clientOf(r))
	limited := func() {
		w.Header().Set("Retry-After", "10")
		s.fail(w, &apiErr{http.StatusTooManyRequests, "rate_limited", "too many corrections: retry shortly"})
	}
	if !client.ready() || !s.feedbackLimit.ready() {
		limited()
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		s.fail(w, &apiErr{http.StatusBadRequest, "bad_request", "reading the multipart body: " + err.Error()})
		return
	}
	var img []byte
	label := ""
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.fail(w, bodyError(err, s.opts.MaxBodyBytes))
			return
		}
		switch part.FormName() {
		case "image":
			img, err = io.ReadAll(io.LimitReader(part, s.opts.MaxBodyBytes+1))
			if err == nil && int64(len(img)) > s.opts.MaxBodyBytes {
				s.fail(w, &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("image exceeds %d bytes", s.opts.MaxBodyBytes)})
				return
			}
		case "label":
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, 256))
			label = strings.TrimSpace(string(b))
		default:
			_, err = io.Copy(io.Discard, part)
		}
		if err != nil {
			s.fail(w, bodyError(err, s.opts.MaxBodyBytes))
			return
		}
	}
	if len(img) == 0 {
		s.fail(w, &apiErr{http.StatusBadRequest, "missing_field", "multipart field \"image\" is missing or empty"})
		return
	}
	if !slices.Contains(s.clf.Meta.Classes, label) {
		s.fail(w, &apiErr{http.StatusBadRequest, "bad_label", fmt.Sprintf("label %q is not one of the model's classes %v", label, s.clf.Meta.Classes)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	if _, aerr := s.decode(ctx, img); aerr != nil {
		s.fail(w, aerr)
		return
	}
	h, err := data.Inspect(img, s.opts.MaxPixels)
	if err != nil {
		s.fail(w, decodeError(err))
		return
	}
	// The bytes are reserved before the write, so concurrent corrections
	// cannot pass the quota together; a refusal or a failed write gives
	// them back.
	n := int64(len(img))
	if s.correctionsBytes.Add(n) > s.opts.CorrectionsMaxBytes {
		s.correctionsBytes.Add(-n)
		s.fail(w, &apiErr{http.StatusInsufficientStorage, "corrections_full", fmt.Sprintf("the corrections folder holds its limit of %d bytes: no more are stored until it is emptied", s.opts.CorrectionsMaxBytes)})
		return
	}
	if !client.allow() || !s.feedbackLimit.allow() {
		s.correctionsBytes.Add(-n)
		limited()
		return
	}
	sum := sha256.Sum256(img)
	name := hex.EncodeToString(sum[:8]) + "." + extension(h.Format)
	dir := filepath.Join(s.opts.CorrectionsDir, label)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.correctionsBytes.Add(-n)
		s.opts.Log.Printf("feedback: %v", err)
		s.fail(w, &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"})
		return
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, name), img); err != nil {
		s.correctionsBytes.Add(-n)
		s.opts.Log.Printf("feedback: %v", err)
		s.fail(w, &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"})
		return
	}
	s.feedbackStored.WithLabelValues(label).Inc()
	writeJSON(w, http.StatusCreated, map[string]any{"stored": label + "/" + name, "label": label})
}

// folderBytes is the size of the files below dir (0 for a folder that
// does not exist yet), counted once when the server starts.
func folderBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func extension(format string) string {
	switch format {
	case "jpeg":
		return "jpg"
	case "png", "gif", "bmp", "webp":
		return format
	}
	return "img"
}
