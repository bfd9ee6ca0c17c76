package pipelines

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths

	"trashsort/atomicfile"
	"trashsort/data"
)

// local reports whether path is on the local filesystem (no scheme://).
func local(path string) bool { return !strings.Contains(path, "://") }

// expand lists the files of one input as trashsort predict does: a local
// folder gives the image files below it, a pattern what Beam's filesystem
// matches; a name that matches nothing is itself (its record reports it).
func expand(ctx context.Context, pattern string) ([]string, error) {
	if local(pattern) {
		if st, err := os.Stat(pattern); err == nil && st.IsDir() {
			var out []string
			err := filepath.WalkDir(pattern, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && data.IsImageName(d.Name()) {
					out = append(out, p)
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pattern, err)
			}
			return out, nil
		}
	}
	fsys, err := filesystem.New(ctx, pattern)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	files, err := fsys.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	if len(files) == 0 && !strings.ContainsAny(pattern, "*?[") {
		return []string{pattern}, nil
	}
	return files, nil
}

// readFile reads at most limit+1 bytes of path through Beam's filesystem,
// enough for the caller to tell a file over the limit.
func readFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	r, err := fsys.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, limit+1))
}

// writeFile writes b to path: atomically on the local filesystem (a rerun
// or a retried bundle never leaves half a file), through Beam's filesystem
// elsewhere (object stores commit a write when it closes).
func writeFile(ctx context.Context, path string, b []byte) error {
	if local(path) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return atomicfile.WriteFile(path, b)
	}
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fsys.Close()
	w, err := fsys.OpenWrite(ctx, path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(w, bytes.NewReader(b)); err != nil {
		w.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
