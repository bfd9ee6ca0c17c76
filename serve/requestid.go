package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

// RequestIDHeader carries a request's id: taken from the request when it
// is sane, made up otherwise, and always echoed in the response.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an incoming request id: an id is a key for
// finding log lines, and a longer one only inflates every line of them.
const maxRequestIDLen = 128

type requestIDKey struct{}

// validRequestID reports whether an incoming id may be used as is: 1 to
// maxRequestIDLen bytes of printable ASCII without spaces, so that it
// cannot forge or split a log line, nor smuggle terminal escapes.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (it panics on a broken system source)
	return hex.EncodeToString(b[:])
}

// withRequestID gives every request an id (RequestIDHeader's if sane),
// echoes it in the response and keeps it in the request's context for
// the log lines of that request.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID returns the id withRequestID gave the request of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// logFor returns the server's logger with the request id of ctx, if any,
// so that every line of one request can be found by its id.
func (s *Server) logFor(ctx context.Context) *slog.Logger {
	if id := RequestID(ctx); id != "" {
		return s.opts.Log.With("request_id", id)
	}
	return s.opts.Log
}

// logRequest writes a debug line per request: off at the default level,
// where a busy service would log little else.
func (s *Server) logRequest(r *http.Request, handler string, code int, took time.Duration) {
	ctx := r.Context()
	if !s.opts.Log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	s.logFor(ctx).LogAttrs(ctx, slog.LevelDebug, "request", slog.String("handler", handler), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", code), slog.Duration("took", took))
}
