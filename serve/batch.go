package serve

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultMaxFiles is the most images one batch request may carry.
const DefaultMaxFiles = 16

// maxFiles is the batch endpoint's image count limit.
func (s *Server) maxFiles() int {
	if s.opts.MaxFiles > 0 {
		return s.opts.MaxFiles
	}
	return DefaultMaxFiles
}

// classifyOne decodes one image under the per-image limits, queues it and
// waits for its answer.
func (s *Server) classifyOne(ctx context.Context, b []byte) (answer, *apiErr) {
	x, aerr := s.decode(ctx, b)
	if aerr != nil {
		return answer{}, aerr
	}
	return s.classifyPixels(ctx, x)
}

// classifyPixels queues the model's input pixels (at each of s.sizes) and
// waits for the answer.
func (s *Server) classifyPixels(ctx context.Context, x [][]float32) (answer, *apiErr) {
	j := &job{x: x, ctx: ctx, done: make(chan result, 1)}
	if aerr := s.submit(j); aerr != nil {
		return answer{}, aerr
	}
	timeout := &apiErr{http.StatusServiceUnavailable, "timeout", "classification did not finish in time"}
	var res result
	select {
	case res = <-j.done:
	case <-ctx.Done():
		return answer{}, timeout
	}
	if res.err != nil {
		if ctx.Err() != nil {
			return answer{}, timeout
		}
		// The cause goes to the log, not to the client.
		s.logFor(ctx).Error("classify", "err", res.err)
		return answer{}, &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"}
	}
	a := s.newAnswer(res.probs, res.unknown)
	a.Batch = res.batch
	return a, nil
}

// fileResult is one image's entry in a batch answer: an answer or an error.
type fileResult struct {
	Index int    `json:"index"`
	File  string `json:"file"`
	*answer
	Error *errorBody `json:"error,omitempty"`
}

type errorBody struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// classifyBatch answers POST /v1/classify/batch: a multipart body with up
// to maxFiles "image" fields, each under the single-image limits; every
// file gets its own answer or error, in the order sent.
func (s *Server) classifyBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		s.fail(w, &apiErr{http.StatusBadRequest, "bad_request", "send multipart/form-data with one \"image\" field per file"})
		return
	}
	maxFiles := s.maxFiles()
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes*int64(maxFiles))
	mr, err := r.MultipartReader()
	if err != nil {
		s.fail(w, &apiErr{http.StatusBadRequest, "bad_request", "reading the multipart body: " + err.Error()})
		return
	}
	var results []*fileResult
	var wg sync.WaitGroup
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			wg.Wait()
			s.fail(w, bodyError(err, s.opts.MaxBodyBytes*int64(maxFiles)))
			return
		}
		if part.FormName() != "image" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				wg.Wait()
				s.fail(w, bodyError(err, s.opts.MaxBodyBytes*int64(maxFiles)))
				return
			}
			continue
		}
		if len(results) == maxFiles {
			wg.Wait()
			s.fail(w, &apiErr{http.StatusRequestEntityTooLarge, "too_many_files", fmt.Sprintf("at most %d images per batch request", maxFiles)})
			return
		}
		fr := &fileResult{Index: len(results), File: part.FileName()}
		results = append(results, fr)
		b, err := io.ReadAll(io.LimitReader(part, s.opts.MaxBodyBytes+1))
		if err != nil {
			wg.Wait()
			s.fail(w, bodyError(err, s.opts.MaxBodyBytes*int64(maxFiles)))
			return
		}
		var aerr *apiErr
		switch {
		case int64(len(b)) > s.opts.MaxBodyBytes:
			aerr = &apiErr{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("image exceeds %d bytes", s.opts.MaxBodyBytes)}
			if _, err := io.Copy(io.Discard, part); err != nil {
				wg.Wait()
				s.fail(w, bodyError(err, s.opts.MaxBodyBytes*int64(maxFiles)))
				return
			}
		case len(b) == 0:
			aerr = &apiErr{http.StatusBadRequest, "empty_body", "the image field is empty"}
		}
		if aerr != nil {
			fr.setError(aerr)
			s.metrics.errors.WithLabelValues(aerr.kind).Inc()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// net/http recovers only the handler's own goroutine: a panic
			// here (a decoder bug on a crafted image) would end the process.
			defer func() {
				if p := recover(); p != nil {
					s.metrics.panics.Inc()
					s.logFor(r.Context()).Error("classify batch: panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					fr.answer = nil
					fr.setError(&apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"})
				}
			}()
			classify := s.classifyOne
			if s.batchClassify != nil {
				classify = s.batchClassify
			}
			// Each image's time starts when its bytes are in: a slow
			// upload is bounded by the read timeout, not by this one.
			ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
			defer cancel()
			a, aerr := classify(ctx, b)
			if aerr != nil {
				fr.setError(aerr)
				s.metrics.errors.WithLabelValues(aerr.kind).Inc()
				return
			}
			fr.answer = &a
		}()
	}
	wg.Wait()
	if len(results) == 0 {
		s.fail(w, &apiErr{http.StatusBadRequest, "missing_field", "no multipart \"image\" fields"})
		return
	}
	failed := 0
	for _, fr := range results {
		if fr.Error != nil {
			failed++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"results": results, "images": len(results), "failed": failed, "model": s.modelID,
		"latency_ms": float64(time.Since(start).Microseconds()) / 1000,
	})
}

func (fr *fileResult) setError(e *apiErr) {
	fr.Error = &errorBody{Kind: e.kind, Message: e.msg, Status: e.status}
}
