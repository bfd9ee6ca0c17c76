package serve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"trashsort/atomicfile"
	"trashsort/data"
)

// initFeedback sets up POST /v1/feedback: the corrections folder (checked,
// swept and counted), the rate limit, the metrics and the route.
func (s *Server) initFeedback() error {
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
	s.feedbackKey = s.opts.FeedbackKey
	if len(s.feedbackKey) == 0 {
		s.feedbackKey = make([]byte, 32)
		rand.Read(s.feedbackKey)
	}
	if s.opts.CorrectionsDir != "" {
		c, err := openCorrections(s.opts.CorrectionsDir, s.clf.Meta.Classes, s.opts.CorrectionsMaxBytes, s.opts.CorrectionsMaxPerClass, s.opts.Log)
		if err != nil {
			return err
		}
		s.corrections = c
		s.metrics.reg.MustRegister(c.filesGauge, c.bytesGauge)
	}
	s.mux.HandleFunc("POST /v1/feedback", s.instrument("feedback", s.feedback))
	return nil
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

// feedbackToken is the token a classification answer carries: the
// answered class and a keyed hash of the uploaded bytes with it. It holds
// no state, so any number of answers cost no memory, and only a client
// that sent these very bytes and got this answer can present it.
func (s *Server) feedbackToken(upload []byte, answered string) string {
	i := slices.Index(s.clf.Meta.Classes, answered)
	return strconv.Itoa(i) + "." + hex.EncodeToString(s.tokenMAC(upload, i))
}

func (s *Server) tokenMAC(upload []byte, class int) []byte {
	sum := sha256.Sum256(upload)
	m := hmac.New(sha256.New, s.feedbackKey)
	m.Write(sum[:])
	m.Write([]byte(strconv.Itoa(class)))
	return m.Sum(nil)[:16]
}

// checkToken returns the class the token says was answered for upload,
// and whether the token is this server's for these bytes.
func (s *Server) checkToken(upload []byte, token string) (string, bool) {
	is, mac, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	i, err := strconv.Atoi(is)
	got, herr := hex.DecodeString(mac)
	if err != nil || herr != nil || i < 0 || i >= len(s.clf.Meta.Classes) {
		return "", false
	}
	if !hmac.Equal(got, s.tokenMAC(upload, i)) {
		return "", false
	}
	return s.clf.Meta.Classes[i], true
}

// clientHash names a client in the origin log without its address: a
// keyed hash, which cannot be reversed by trying every address.
func (s *Server) clientHash(addr string) string {
	m := hmac.New(sha256.New, s.feedbackKey)
	m.Write([]byte("client " + addr))
	return hex.EncodeToString(m.Sum(nil)[:6])
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
// like a classification (body, pixel and decode limits), encoded afresh
// (reencode) and stored atomically as <corrections>/<label>/<sha256
// prefix>.<ext>, so a folder that `trashsort train --extra` reads grows
// with the service's own photos.
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
	label, token := "", ""
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
		case "token":
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, 256))
			token = strings.TrimSpace(string(b))
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
	answered, tokenOK := "", false
	if token != "" {
		answered, tokenOK = s.checkToken(img, token)
	}
	if s.opts.FeedbackTokens && !tokenOK {
		msg := "this server accepts corrections only of photos it answered: send the answer's feedback_token in the field \"token\", with the same image bytes"
		if token != "" {
			msg = "the token does not belong to this image or to this server (tokens hold until the server restarts)"
		}
		s.fail(w, &apiErr{http.StatusForbidden, "bad_token", msg})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	stored, format, aerr := s.reencode(ctx, img)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	// Named for the stored bytes: the same photo sent again (with other
	// metadata, or other bytes after its end) is the same file.
	sum := sha256.Sum256(stored)
	name := hex.EncodeToString(sum[:8]) + "." + extension(format)
	n := int64(len(stored))
	answer := map[string]any{"stored": label + "/" + name, "label": label}
	// Tokens and bytes are taken together under the folder's lock, once
	// the photo is known to be good: concurrent corrections cannot pass
	// the limit together, and a failed write gives its bytes back (done).
	switch s.corrections.reserve(label, name, n, func() bool { return client.allow() && s.feedbackLimit.allow() }) {
	case overQuota:
		s.fail(w, &apiErr{http.StatusInsufficientStorage, "corrections_full", fmt.Sprintf("the corrections folder holds its limit of %d bytes: no more are stored until it is emptied and the server restarted", s.opts.CorrectionsMaxBytes)})
		return
	case classFull:
		s.fail(w, &apiErr{http.StatusInsufficientStorage, "class_full", fmt.Sprintf("the corrections folder holds its limit of %d photos of %q", s.opts.CorrectionsMaxPerClass, label)})
		return
	case diskFull:
		s.fail(w, &apiErr{http.StatusInsufficientStorage, "disk_full", "the disk of the corrections folder is nearly full: no more are stored"})
		return
	case outOfTokens:
		limited()
		return
	case duplicate:
		answer["duplicate"] = true
		writeJSON(w, http.StatusCreated, answer)
		return
	}
	err = atomicfile.WriteFileIn(s.corrections.root, label+"/"+name, stored)
	origin := data.CorrectionOrigin{File: label + "/" + name, Label: label, Answered: answered,
		Client: s.clientHash(clientOf(r)), Time: time.Now().UTC().Format(time.RFC3339), Model: s.modelID}
	if oerr := s.corrections.done(label, name, n, err, origin); oerr != nil {
		// The photo is stored and counts; only its origin is unknown,
		// which data check reports as a photo without a record.
		s.logFor(r.Context()).Error("feedback: recording the origin", "err", oerr)
	}
	if err != nil {
		s.logFor(r.Context()).Error("feedback", "err", err)
		s.fail(w, &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"})
		return
	}
	s.feedbackStored.WithLabelValues(label).Inc()
	writeJSON(w, http.StatusCreated, answer)
}

// reencodeQuality is the JPEG quality corrections are stored at: high,
// since the stored photo is a second generation of the upload.
const reencodeQuality = 90

// reencode decodes an uploaded correction under the same limits as a
// classification (pixels, decode memory, deadline) and encodes its
// upright pixels afresh, as JPEG for lossy formats (JPEG, WebP) and PNG
// for the others. What is stored is then pixels only: the upload's
// metadata (an Exif GPS position, a camera serial) and any bytes after the
// image's end are left behind.
func (s *Server) reencode(ctx context.Context, b []byte) ([]byte, string, *apiErr) {
	h, err := data.Inspect(b, s.opts.MaxPixels)
	if err != nil {
		return nil, "", decodeError(err)
	}
	// A full decode, its RGB and upright copies (DecodeBytes), and the
	// RGBA image the encoders read.
	need := h.DecodeBytes + 4*int64(h.W)*int64(h.H)
	if need > s.opts.DecodeMemory {
		return nil, "", &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("storing this %dx%d %s image takes about %d MiB, over the %d MiB decode budget",
			h.W, h.H, h.Format, need>>20, s.opts.DecodeMemory>>20)}
	}
	release, aerr := s.acquireDecode(ctx, need)
	if aerr != nil {
		return nil, "", aerr
	}
	defer release()
	if need >= collectAfterDecode {
		defer runtime.GC() // as in decode: the next large image reuses this memory
	}
	img, err := data.DecodeContext(ctx, b, s.opts.MaxPixels)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", &apiErr{http.StatusServiceUnavailable, "timeout", "decoding did not finish in time"}
		}
		return nil, "", decodeError(err)
	}
	var out bytes.Buffer
	format := "png"
	switch h.Format {
	case "jpeg", "webp":
		format = "jpeg"
		err = img.Encode(&out, reencodeQuality)
	default:
		err = png.Encode(&out, rgba(img))
	}
	if err != nil {
		s.logFor(ctx).Error("feedback: encoding the correction", "width", h.W, "height", h.H, "from", h.Format, "to", format, "err", err)
		return nil, "", &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"}
	}
	return out.Bytes(), format, nil
}

// rgba is img as an opaque image.RGBA, which the PNG encoder writes as 8-bit RGB.
func rgba(img *data.RGB) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for i := range img.W * img.H {
		copy(m.Pix[4*i:4*i+3], img.Pix[3*i:3*i+3])
		m.Pix[4*i+3] = 255
	}
	return m
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
