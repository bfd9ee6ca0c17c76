package atomicfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"syscall"
)

// WriteFileIn is WriteFileNoScan inside root: name (slash-separated,
// relative to the root) and its temporary file are opened through root,
// so no name, symbolic link or ".." can place the file outside it, even
// when a folder inside is swapped for a link while the write runs.
func WriteFileIn(root *os.Root, name string, data []byte) (err error) {
	where := root.Name() + "/" + name
	dir := path.Dir(name)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	var f *os.File
	var tmp string
	for range 100 {
		tmp = path.Join(dir, tmpPrefix(name)+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(rand.Uint64()%1e12, 10))
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	if err = root.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	if err = root.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", where, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("write %s: sync folder: %w", where, err)
	}
	return nil
}
