package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"trashsort/atomicfile"
	"trashsort/data"
)

// staleTempAge is the age from which a temporary file found at start is
// taken for the remains of a killed write: a correction is written in far
// less, so another server sharing the folder keeps its writes in progress.
const staleTempAge = 5 * time.Minute

// corrections is the folder POST /v1/feedback stores photos in, with what
// it holds kept in memory: counted by one walk at start and updated by
// each store, so that a store neither lists its class folder nor walks the
// tree. Files removed or added by hand while the server runs are seen at
// its next start.
type corrections struct {
	dir string
	// root is dir opened as a root: every store goes through it, so no
	// class name or link swapped in can lead a write outside.
	root        *os.Root
	maxBytes    int64
	maxPerClass int
	// freeBytes reports the free space of the folder's disk (tests
	// replace it).
	freeBytes func() (int64, error)

	mu sync.Mutex
	// bytes is what the folder holds, the writes in progress included
	// (reserved before they start, so that concurrent ones cannot pass
	// the limit together).
	bytes int64
	// files counts the photos per class folder.
	files map[string]int
	// writing holds the writes in progress, by class/name.
	writing map[string]bool

	filesGauge *prometheus.GaugeVec
	bytesGauge prometheus.GaugeFunc
}

// openCorrections prepares dir for corrections of the given classes: it
// creates dir if needed, refuses a folder where stores would fail (not
// writable, a class folder that is not a folder, a class that cannot name
// one), removes the temporary files of killed writes and counts what the
// folder holds.
func openCorrections(dir string, classes []string, maxBytes int64, maxPerClass int, logger *slog.Logger) (*corrections, error) {
	for _, class := range classes {
		if !filepath.IsLocal(class) || filepath.Base(class) != class {
			return nil, fmt.Errorf("serve: corrections folder %s: class %q cannot name a folder in it", dir, class)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("serve: corrections folder %s cannot be created: %w", dir, err)
	}
	if err := atomicfile.CheckWritable(dir); err != nil {
		return nil, fmt.Errorf("serve: corrections: %w", err)
	}
	for _, class := range classes {
		p := filepath.Join(dir, class)
		st, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // created by its first correction
		case err != nil:
			return nil, fmt.Errorf("serve: corrections class folder %s: %w", p, err)
		case !st.IsDir():
			return nil, fmt.Errorf("serve: corrections class folder %s is not a folder (%s)", p, st.Mode().Type())
		}
		if err := atomicfile.CheckWritable(p); err != nil {
			return nil, fmt.Errorf("serve: corrections class: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: corrections folder %s: %w", dir, err)
	}
	c := &corrections{dir: dir, root: root, maxBytes: maxBytes, maxPerClass: maxPerClass, files: map[string]int{}, writing: map[string]bool{},
		freeBytes: func() (int64, error) { return freeSpace(dir) }}
	for _, class := range classes {
		c.files[class] = 0
	}
	swept := 0
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			// WalkDir lists a folder after this call: what Sweep
			// removes is not counted.
			n, err := atomicfile.Sweep(p, staleTempAge)
			swept += n
			return err
		}
		if !e.Type().IsRegular() || atomicfile.IsTemp(e.Name()) {
			return nil // a recent temporary file: a write that may be in progress
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		c.bytes += info.Size()
		if parent := filepath.Dir(p); filepath.Dir(parent) == filepath.Clean(dir) && data.IsImageName(e.Name()) {
			c.files[filepath.Base(parent)]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("serve: counting the corrections folder %s: %w", dir, err)
	}
	if swept > 0 {
		logger.Info("feedback: removed the temporary files of interrupted writes", "files", swept, "dir", dir)
	}
	c.filesGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "trashsort_corrections_files", Help: "Photos the corrections folder holds, by class folder.",
	}, []string{"class"})
	for class, n := range c.files {
		c.filesGauge.WithLabelValues(class).Set(float64(n))
	}
	c.bytesGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trashsort_corrections_bytes", Help: "Bytes the corrections folder holds, writes in progress included.",
	}, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(c.bytes)
	})
	return c, nil
}

// reservation is the outcome of corrections.reserve.
type reservation int

const (
	// reserved: the bytes are counted; write the file, then call done.
	reserved reservation = iota
	// duplicate: the folder holds (or is writing) this very file.
	duplicate
	// overQuota: the file would take the folder over its limit.
	overQuota
	// outOfTokens: spend refused.
	outOfTokens
	// classFull: the class folder holds its limit of photos.
	classFull
	// diskFull: the disk would keep less than minFreeBytes.
	diskFull
)

// minFreeBytes is the free space a store leaves on the folder's disk at
// least: corrections never fill the disk that logs, checkpoints and the
// model file share.
const minFreeBytes = 256 << 20

// reserve decides a store of n bytes as class/name: a duplicate or a
// correction within the limit spends a token (spend), and a new one is
// counted before it is written.
func (c *corrections) reserve(class, name string, n int64, spend func() bool) reservation {
	key := class + "/" + name
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing[key] || exists(filepath.Join(c.dir, class, name)) {
		if !spend() {
			return outOfTokens
		}
		return duplicate
	}
	if c.bytes+n > c.maxBytes {
		return overQuota
	}
	if c.files[class]+c.writingIn(class) >= c.maxPerClass {
		return classFull
	}
	if free, err := c.freeBytes(); err == nil && free-n < minFreeBytes {
		return diskFull
	}
	if !spend() {
		return outOfTokens
	}
	c.bytes += n
	c.writing[key] = true
	return reserved
}

// writingIn counts the writes in progress into class's folder.
func (c *corrections) writingIn(class string) int {
	n := 0
	for k := range c.writing {
		if strings.HasPrefix(k, class+"/") {
			n++
		}
	}
	return n
}

// done ends a reserved store: counted as a photo of class, and its origin
// appended to the folder's origin log, if it was written (err nil); its
// bytes given back if not. It returns the error of appending the origin,
// for the caller to log with its request.
func (c *corrections) done(class, name string, n int64, err error, origin data.CorrectionOrigin) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.writing, class+"/"+name)
	if err != nil {
		c.bytes -= n
		return nil
	}
	c.files[class]++
	c.filesGauge.WithLabelValues(class).Set(float64(c.files[class]))
	line, _ := json.Marshal(origin)
	if err := c.appendOrigin(append(line, '\n')); err != nil {
		return err
	}
	c.bytes += int64(len(line) + 1)
	return nil
}

// appendOrigin appends one line to the origin log, through the root. One
// write of a short line to a file opened for appending lands whole; a
// crash mid-write leaves at most a cut last line, which readers skip.
func (c *corrections) appendOrigin(line []byte) error {
	f, err := c.root.OpenFile(data.CorrectionOriginLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("origin log in %s: %w", c.dir, err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("origin log in %s: %w", c.dir, err)
	}
	return f.Close()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
