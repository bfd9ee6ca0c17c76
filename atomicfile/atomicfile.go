// Package atomicfile writes files so that readers see either the old
// content or the complete new content, never a partial file: the data goes
// to a temporary file in the same folder, is synced, renamed over the
// destination, and the folder is synced so that the rename survives a
// power loss. Temporary files left by a killed process are removed by the
// next write of the same file, or by Sweep.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tmpPrefix starts the names of path's temporary files: hidden, named for
// the destination; the writing process's id and a random number follow
// (".<name>.tmp-<pid>-<random>").
func tmpPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// createTemp creates a temporary file for path in dir.
func createTemp(dir, path string) (*os.File, error) {
	return os.CreateTemp(dir, tmpPrefix(path)+strconv.Itoa(os.Getpid())+"-*")
}

// IsTemp reports whether name, a file's base name, is one of the temporary
// files Write creates.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp-")
	if len(name) < 2 || name[0] != '.' || i < 2 {
		return false
	}
	pid, random, ok := strings.Cut(name[i+len(".tmp-"):], "-")
	return ok && digits(pid) && digits(random)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Write calls fill with a writer on a temporary file and, if it succeeds,
// renames the file to path and syncs the folder. On failure the temporary
// file is removed and path keeps its previous content. Before writing it
// removes path's stale temporary files (RemoveStale), which lists the folder.
func Write(path string, fill func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	RemoveStale(path)
	return write(path, fill)
}

// WriteFileNoScan is WriteFile without RemoveStale: it does not list
// path's folder, whose cost grows with the files there. It is for folders
// of many files whose owner removes stale temporary files with Sweep
// instead (once, when it starts).
func WriteFileNoScan(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// write is Write without the folder's creation and RemoveStale.
func write(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := createTemp(dir, path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir syncs a folder so that renames and creations in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// RemoveStale deletes the temporary files of earlier writes of path whose
// process no longer runs (killed mid-write); those of live processes stay.
func RemoveStale(path string) {
	prefix := tmpPrefix(path)
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if ok && err == nil && pid > 0 && alive(pid) {
			continue
		}
		os.Remove(filepath.Join(filepath.Dir(path), name))
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Sweep removes the temporary files (IsTemp) in dir, not in its
// subfolders, last modified more than olderThan ago: those of writes that
// were killed. A write in progress has modified its file recently, so an
// age well beyond the longest write leaves live writers alone, whichever
// process they run in; unlike RemoveStale it does not go by process ids,
// which a restarted container reuses. It returns how many it removed; a missing
// dir holds none.
func Sweep(dir string, olderThan time.Duration) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !IsTemp(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue // gone meanwhile, or possibly a write in progress
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("sweep %s: %w", dir, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// CheckWritable creates and removes a temporary file in dir as Write
// does, so that a folder where writes would fail (missing, read-only, not
// a folder) is found before the first one. A check killed halfway leaves
// a temporary file that Sweep removes.
func CheckWritable(dir string) error {
	f, err := createTemp(dir, "write-check")
	if err != nil {
		return fmt.Errorf("folder %s is not writable: %w", dir, err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("folder %s: removing the write check %s: %w", dir, filepath.Base(name), err)
	}
	if cerr != nil {
		return fmt.Errorf("folder %s is not writable: %w", dir, cerr)
	}
	return nil
}
