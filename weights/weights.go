// Package weights finds a backbone's ImageNet weight file: a file or folder
// the user names, the download cache, or a fresh, verified download of the
// official Keras file.
package weights

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"trashsort/download"
	"trashsort/models"
)

// EnvVar names the environment variable that overrides the weight location:
// a .h5 file, or a folder holding the official file names.
const EnvVar = "TRASHSORT_WEIGHTS"

// CachePath is where the spec's no-top file lives in the download cache.
func CachePath(spec models.Spec) string {
	return filepath.Join(download.CacheDir(), "weights", spec.NoTop.File)
}

// Locate returns the weight file for spec from override (a flag value),
// $TRASHSORT_WEIGHTS or the cache, without downloading. The second result is
// false when none is present.
func Locate(spec models.Spec, override string) (string, bool, error) {
	if override == "" {
		override = os.Getenv(EnvVar)
	}
	if override != "" {
		st, err := os.Stat(override)
		if err != nil {
			return "", false, fmt.Errorf("weights %s: %w", override, err)
		}
		if !st.IsDir() {
			return override, true, nil
		}
		p := filepath.Join(override, spec.NoTop.File)
		if _, err := os.Stat(p); err != nil {
			return "", false, fmt.Errorf("weights folder %s has no %s", override, spec.NoTop.File)
		}
		return p, true, nil
	}
	p := CachePath(spec)
	if _, err := os.Stat(p); err == nil {
		return p, true, nil
	}
	return p, false, nil
}

// MaxUnknownSize bounds the download of a weight file whose size is not
// pinned: far above any Keras ImageNet weight file, yet small enough that a
// server sending without end cannot fill the disk.
const MaxUnknownSize = 2 << 30

// Fetch downloads the official no-top file for spec into the cache, checks
// the pins the spec carries (Keras' MD5, the SHA-256 and the size where
// known; an unknown size is bounded by MaxUnknownSize), and checks the
// structure (every layer name and shape) by loading it into the model; a
// file that fails is removed. It returns the path and the file's SHA-256.
func Fetch(ctx context.Context, client *http.Client, spec models.Spec, progress func(done, total int64)) (string, string, error) {
	dest := CachePath(spec)
	res, err := download.Fetch(ctx, client, download.Request{
		URL: spec.NoTop.URL, Dest: dest,
		MD5: spec.NoTop.MD5, SHA256: spec.NoTop.SHA256, Size: spec.NoTop.Size, MaxSize: MaxUnknownSize,
		Progress: progress,
	})
	if err != nil {
		return "", "", err
	}
	if err := Verify(spec, dest); err != nil {
		os.Remove(dest)
		return "", "", err
	}
	return dest, res.SHA256, nil
}

// Verify checks that path holds weights for every layer of spec's base with the right shapes.
func Verify(spec models.Spec, path string) error {
	m, err := spec.Build(models.Options{Size: max(spec.MinSize, 75)})
	if err != nil {
		return err
	}
	return models.LoadKerasWeights(m, path)
}

// Resolve returns a local weight file for spec, downloading it when it is
// neither named nor cached.
func Resolve(ctx context.Context, spec models.Spec, override string, progress func(done, total int64)) (string, error) {
	p, ok, err := Locate(spec, override)
	if err != nil || ok {
		return p, err
	}
	p, _, err = Fetch(ctx, nil, spec, progress)
	return p, err
}
