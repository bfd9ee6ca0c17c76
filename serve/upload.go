package serve

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/sync/semaphore"
)

// errUploadBudget is returned by a request body's Read when the bytes of
// all the bodies being received would exceed Options.UploadMemory.
var errUploadBudget = errors.New("too many uploads in progress")

// budgetBody counts a request body's bytes against the server's upload
// budget as they arrive, so that memory follows the bytes received rather
// than the lengths clients declare; the handler's end gives them back.
// The handler's goroutine both reads and releases it.
type budgetBody struct {
	io.ReadCloser
	sem  *semaphore.Weighted
	held int64
}

func (b *budgetBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if !b.sem.TryAcquire(int64(n)) {
			return 0, errUploadBudget
		}
		b.held += int64(n)
	}
	return n, err
}

// release gives back every byte the body took.
func (b *budgetBody) release() {
	if b.held > 0 {
		b.sem.Release(b.held)
		b.held = 0
	}
}

// withUploadBudget runs h with r's body counted against the budget.
func (s *Server) withUploadBudget(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h(w, r)
			return
		}
		b := &budgetBody{ReadCloser: r.Body, sem: s.uploads}
		r.Body = b
		defer b.release()
		h(w, r)
	}
}

// bodyError maps a failure to read the request body: over the body limit
// (413), over the upload budget (503, retry), or a broken upload (400).
func bodyError(err error, limit int64) *apiErr {
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body exceeds %d bytes", limit)}
	case errors.Is(err, errUploadBudget):
		return &apiErr{http.StatusServiceUnavailable, "overloaded", "the server is receiving too many uploads: retry shortly"}
	}
	return &apiErr{http.StatusBadRequest, "bad_request", "reading the request: " + err.Error()}
}
