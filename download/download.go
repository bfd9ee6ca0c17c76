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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"trashsort/atomicfile"
	"trashsort/filelock"
)

// Request describes one file to fetch.
type Request struct {
	URL  string
	Dest string
	// Size, MD5 and SHA256 are checked when not zero or empty. A known
	// Size also bounds the transfer: a server that sends more is refused
	// whether or not it announced a Content-Length.
	Size   int64
	MD5    string
	SHA256 string
	// MaxSize, when Size is unknown, is the most bytes the file may have
	// (0: no limit), so that a hostile or broken server cannot fill the
	// disk.
	MaxSize int64
	// Progress, when set, is called with bytes done and total (-1 if unknown).
	Progress func(done, total int64)
	// StallTimeout abandons a download that receives nothing for this long
	// (default DefaultStallTimeout); run again to resume.
	StallTimeout time.Duration
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

// ErrTooLarge is wrapped by errors for a download that exceeds its known
// size or its maximum size.
var ErrTooLarge = errors.New("too large")

// ErrInsecureRedirect is wrapped by errors for a download that an https
// server redirected to a plain-http URL.
var ErrInsecureRedirect = errors.New("redirect from https to plain http refused")

// DefaultStallTimeout is how long a download may go without receiving a
// byte before it is abandoned (Request.StallTimeout).
const DefaultStallTimeout = 60 * time.Second

// Client is the HTTP client used when Fetch is given none: bounded connect,
// TLS and response-header waits (a whole download has no time limit; a
// stalled one is stopped by the stall timeout).
var Client = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   30 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	ExpectContinueTimeout: time.Second,
	IdleConnTimeout:       90 * time.Second,
}}

// Files beside Dest: the partial download, the validator (ETag or
// Last-Modified) of the response it came from, the lock that keeps two
// processes from writing one .part, and the SHA-256 recorded when a file
// without a known hash was downloaded.
func partPath(dest string) string      { return dest + ".part" }
func validatorPath(dest string) string { return dest + ".part.validator" }
func lockPath(dest string) string      { return dest + ".lock" }
func sumPath(dest string) string       { return dest + ".sha256" }

// errRestart asks Fetch to discard the partial file and start over.
var errRestart = errors.New("restart")

// Fetch downloads r.URL to r.Dest unless r.Dest already exists and passes
// its check (the request's size and hashes, or the SHA-256 recorded when it
// was downloaded; a file that fails is downloaded again). It follows
// redirects, continues a partial download when the server confirms the
// same file (If-Range, Content-Range), holds a lock so that concurrent
// fetches of one file wait for each other, verifies the result and renames
// it into place. A redirect from https to plain http is refused (the
// caller's client is not changed: Fetch uses a copy of it).
func Fetch(ctx context.Context, client *http.Client, r Request) (Result, error) {
	if client == nil {
		client = Client
	}
	client = noDowngrade(client)
	if r.StallTimeout == 0 {
		r.StallTimeout = DefaultStallTimeout
	}
	if res, ok := reuse(r); ok {
		return res, nil
	}
	if err := os.MkdirAll(filepath.Dir(r.Dest), 0o755); err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	unlock, err := filelock.Lock(ctx, lockPath(r.Dest))
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	defer unlock()
	if res, ok := reuse(r); ok { // another process finished it meanwhile
		return res, nil
	}
	res, err := fetch(ctx, client, r)
	if errors.Is(err, errRestart) {
		os.Remove(partPath(r.Dest))
		os.Remove(validatorPath(r.Dest))
		res, err = fetch(ctx, client, r)
		if errors.Is(err, errRestart) {
			err = fmt.Errorf("download %s: the server does not honour range requests consistently", r.URL)
		}
	}
	return res, err
}

// noDowngrade returns a copy of client that refuses a redirect to a
// non-https URL once any hop was https: the file would then travel, and
// could be swapped, in the clear. The client's own redirect policy (or Go's
// default limit) still applies to every other redirect.
func noDowngrade(client *http.Client) *http.Client {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			for _, v := range via {
				if v.URL.Scheme == "https" {
					return fmt.Errorf("%w: %s to %s", ErrInsecureRedirect, v.URL.Redacted(), req.URL.Redacted())
				}
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// limit is the most bytes the file may have, or -1 when unbounded.
func (r Request) limit() int64 {
	switch {
	case r.Size > 0:
		return r.Size
	case r.MaxSize > 0:
		return r.MaxSize
	}
	return -1
}

// tooLarge is the error for a file that would exceed the request's limit;
// what says how that showed ("the server announces 5000 bytes").
func (r Request) tooLarge(what string) error {
	if r.Size > 0 {
		return fmt.Errorf("download %s: %s, expected %d: %w: %w", r.URL, what, r.Size, ErrTooLarge, ErrChecksum)
	}
	return fmt.Errorf("download %s: %s, over the limit of %d bytes: %w", r.URL, what, r.MaxSize, ErrTooLarge)
}

// reuse checks an existing destination file; one that fails its check is
// removed so that it is downloaded again.
func reuse(r Request) (Result, bool) {
	st, err := os.Stat(r.Dest)
	if err != nil || st.IsDir() {
		return Result{}, false
	}
	check := r
	if check.SHA256 == "" && check.MD5 == "" {
		if b, err := os.ReadFile(sumPath(r.Dest)); err == nil {
			check.SHA256 = strings.TrimSpace(string(b))
		}
	}
	res, err := verifyFile(check, r.Dest)
	if err != nil {
		os.Remove(r.Dest)
		os.Remove(sumPath(r.Dest))
		return Result{}, false
	}
	return res, true
}

// fetch makes one request, resuming the partial file when it can.
func fetch(ctx context.Context, client *http.Client, r Request) (Result, error) {
	part := partPath(r.Dest)
	var offset int64
	if st, err := os.Stat(part); err == nil {
		offset = st.Size()
	}
	validator := ""
	if b, err := os.ReadFile(validatorPath(r.Dest)); err == nil {
		validator = strings.TrimSpace(string(b))
	}
	if offset > 0 && validator == "" && r.SHA256 == "" && r.MD5 == "" {
		// Nothing would tell a changed file from the one the part came
		// from: start over rather than splice two versions.
		offset = 0
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		if validator != "" {
			req.Header.Set("If-Range", validator)
		}
	}
	stall := time.AfterFunc(r.StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, stalledOr(ctx, err))
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
		v := resp.Header.Get("ETag")
		if v == "" || strings.HasPrefix(v, "W/") {
			v = resp.Header.Get("Last-Modified")
		}
		os.Remove(validatorPath(r.Dest))
		if v != "" {
			if err := os.WriteFile(validatorPath(r.Dest), []byte(v+"\n"), 0o644); err != nil {
				return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
			}
		}
	case http.StatusPartialContent:
		start, end, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset || (resp.ContentLength >= 0 && end-start+1 != resp.ContentLength) {
			return Result{}, fmt.Errorf("download %s: Content-Range %q does not continue at byte %d: %w", r.URL, resp.Header.Get("Content-Range"), offset, errRestart)
		}
		flags |= os.O_APPEND
		resumed = true
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// The part file is already complete (or wrong): verify it as is.
		resp.Body.Close()
		res, err := finish(r, part, true)
		if errors.Is(err, ErrChecksum) {
			return res, fmt.Errorf("%w: %w", err, errRestart)
		}
		return res, err
	default:
		return Result{}, fmt.Errorf("download %s: HTTP %s", r.URL, resp.Status)
	}
	if r.Size > 0 && total >= 0 && total != r.Size {
		return Result{}, fmt.Errorf("download %s: server announces %d bytes, expected %d: %w", r.URL, total, r.Size, ErrChecksum)
	}
	limit := r.limit()
	if limit >= 0 && total > limit {
		return Result{}, r.tooLarge(fmt.Sprintf("the server announces %d bytes", total))
	}
	if limit >= 0 && offset > limit {
		// A part file already past the limit cannot become the file.
		return Result{}, fmt.Errorf("%w: %w", r.tooLarge(fmt.Sprintf("%s holds %d bytes", part, offset)), errRestart)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	w := &progressWriter{w: f, done: offset, total: total, fn: r.Progress}
	body := &stallReader{r: resp.Body, timer: stall, d: r.StallTimeout}
	n, copyErr := copyAtMost(w, body, limit-offset, limit < 0)
	syncErr := f.Sync()
	closeErr := f.Close()
	if errors.Is(copyErr, errOverLimit) {
		// The server sends more than the file can hold (whatever its
		// headers said): what came is not the file, so nothing is kept.
		os.Remove(part)
		os.Remove(validatorPath(r.Dest))
		return Result{}, r.tooLarge(fmt.Sprintf("the server sends more than %d bytes", limit))
	}
	if copyErr != nil {
		return Result{}, fmt.Errorf("download %s: interrupted after %d bytes (run again to resume): %w", r.URL, offset+n, stalledOr(ctx, copyErr))
	}
	if err := errors.Join(syncErr, closeErr); err != nil {
		return Result{}, fmt.Errorf("download %s: %w", r.URL, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return Result{}, fmt.Errorf("download %s: body truncated: got %d of %d bytes (run again to resume)", r.URL, n, resp.ContentLength)
	}
	return finish(r, part, resumed)
}

var errStalled = errors.New("stalled: no data received within the stall timeout")

// errOverLimit reports a body with bytes beyond the limit.
var errOverLimit = errors.New("body exceeds the limit")

// copyAtMost copies src to dst, at most room bytes unless unbounded; a
// body with more returns errOverLimit after writing room bytes, so that a
// server cannot make the copy run on past the file's size.
func copyAtMost(dst io.Writer, src io.Reader, room int64, unbounded bool) (int64, error) {
	if unbounded {
		return io.Copy(dst, src)
	}
	n, err := io.Copy(dst, io.LimitReader(src, room))
	if err != nil {
		return n, err
	}
	var probe [1]byte
	if k, _ := io.ReadFull(src, probe[:]); k > 0 {
		return n, errOverLimit
	}
	return n, nil
}

func stalledOr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); errors.Is(c, errStalled) {
		return c
	}
	return err
}

// stallReader pushes the stall deadline back on every read that returns data.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*", given as -1).
func parseContentRange(v string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, 0, false
	}
	size = -1
	if sz != "*" {
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || n <= end {
			return 0, 0, 0, false
		}
		size = n
	}
	return start, end, size, true
}

func finish(r Request, part string, resumed bool) (Result, error) {
	res, err := verifyFile(r, part)
	if err != nil {
		os.Remove(part)
		os.Remove(validatorPath(r.Dest))
		return res, err
	}
	if err := os.Rename(part, r.Dest); err != nil {
		return res, fmt.Errorf("download %s: %w", r.URL, err)
	}
	os.Remove(validatorPath(r.Dest))
	if r.SHA256 == "" {
		if err := atomicfile.WriteFile(sumPath(r.Dest), []byte(res.SHA256+"\n")); err != nil {
			return res, fmt.Errorf("download %s: %w", r.URL, err)
		}
	}
	if err := atomicfile.SyncDir(filepath.Dir(r.Dest)); err != nil {
		return res, err
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
	if r.Size <= 0 && r.MaxSize > 0 && n > r.MaxSize {
		return res, fmt.Errorf("%s: %d bytes, over the limit of %d: %w", path, n, r.MaxSize, ErrTooLarge)
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
