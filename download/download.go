// Package download fetches files over HTTP into a local cache: resumable
// (a .part file continued with a Range request), verified by size and
// checksum, and renamed into place atomically, so that an interrupted or
// corrupt download never leaves a file that looks complete.
package download

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Request describes one file to fetch.
type Request struct {
	URL  string
	Dest string
	// Size, MD5 and SHA256 are checked when not zero or empty.
	Size   int64
	MD5    string
	SHA256 string
	// Progress, when set, is called with bytes done and total (-1 if unknown).
	Progress func(done, total int64)
}

// Result reports what was fetched.
type Result struct {
	Path   string
	Size   int64
	SHA256 string
	MD5    string
	// Resumed is true when an earlier partial download was continued.
	Resumed bool
}

// ErrChecksum is wrapped by errors for a file whose size or hash is wrong.
var ErrChecksum = errors.New("checksum mismatch")

// Fetch downloads r.URL to r.Dest unless r.Dest already exists. It follows
// redirects, continues a partial download, verifies the result and renames
// it into place.
func Fetch(ctx context.Context, client *http.Client, r Request) (Result, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if st, err := os.Stat(r.Dest); err == nil && !st.IsDir() {
		return verifyFile(r, r.Dest)
	}
	if err := os.MkdirAll(filepath.Dir(r.Dest), 0o755); err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	part := r.Dest + ".part"
	var offset int64
	if st, err := os.Stat(part); err == nil {
		offset = st.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	resumed := false
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusOK:
		flags |= os.O_TRUNC
		offset = 0
		total = resp.ContentLength
	case http.StatusPartialContent:
		flags |= os.O_APPEND
		resumed = true
		if resp.ContentLength >= 0 {
			total = offset + resp.ContentLength
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The part file is already complete (or wrong): verify it as is.
		resp.Body.Close()
		return finish(r, part, true)
	default:
		return Result{}, fmt.Errorf("download %s: HTTP %s", r.URL, resp.Status)
	}
	if r.Size > 0 && total >= 0 && total != r.Size {
		return Result{}, fmt.Errorf("download %s: server announces %d bytes, expected %d: %w", r.URL, total, r.Size, ErrChecksum)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	w := &progressWriter{w: f, done: offset, total: total, fn: r.Progress}
	n, copyErr := io.Copy(w, resp.Body)
	closeErr := f.Close()
	if copyErr != nil {
		return Result{}, fmt.Errorf("download %s: interrupted after %d bytes (run again to resume): %w", r.URL, offset+n, copyErr)
	}
	if closeErr != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, closeErr)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return Result{}, fmt.Errorf("download %s: body truncated: got %d of %d bytes (run again to resume)", r.URL, n, resp.ContentLength)
	}
	return finish(r, part, resumed)
}

func finish(r Request, part string, resumed bool) (Result, error) {
	res, err := verifyFile(r, part)
	if err != nil {
		os.Remove(part)
		return res, err
	}
	if err := os.Rename(part, r.Dest); err != nil {
		return res, fmt.Errorf("download %s: %w", r.URL, err)
	}
	res.Path, res.Resumed = r.Dest, resumed
	return res, nil
}

// verifyFile checks size and hashes of path against the request.
func verifyFile(r Request, path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	hs, hm := sha256.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(hs, hm), f)
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	res := Result{Path: path, Size: n, SHA256: hexSum(hs), MD5: hexSum(hm)}
	if r.Size > 0 && n != r.Size {
		return res, fmt.Errorf("%s: %d bytes, expected %d: %w", path, n, r.Size, ErrChecksum)
	}
	if r.SHA256 != "" && !strings.EqualFold(r.SHA256, res.SHA256) {
		return res, fmt.Errorf("%s: sha256 %s, expected %s: %w", path, res.SHA256, r.SHA256, ErrChecksum)
	}
	if r.MD5 != "" && !strings.EqualFold(r.MD5, res.MD5) {
		return res, fmt.Errorf("%s: md5 %s, expected %s: %w", path, res.MD5, r.MD5, ErrChecksum)
	}
	return res, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
	return n, err
}

// CacheDir is where downloads are kept: $TRASHSORT_CACHE, else
// $XDG_CACHE_HOME/trashsort, else ~/.cache/trashsort.
func CacheDir() string {
	if d := os.Getenv("TRASHSORT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "trashsort")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "trashsort")
	}
	return filepath.Join(os.TempDir(), "trashsort-cache")
}
