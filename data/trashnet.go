package data

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"trashsort/atomicfile"
	"trashsort/download"
)

// TrashNetLabels are the labels of TrashNet's split lists.
var TrashNetLabels = map[int]string{1: "glass", 2: "paper", 3: "cardboard", 4: "plastic", 5: "metal", 6: "trash"}

// Source says where to download a TrashNet-style dataset and what to expect.
type Source struct {
	ZipURL string
	// Splits maps a split name (train, val, test) to the URL of its list.
	Splits map[string]string
	// Counts, when set, is the expected number of images per class in the zip.
	Counts map[string]int
	// ZipSize and ZipSHA256 pin the zip, SplitSHA256 (by split name) the
	// split lists, where set. An unpinned file is trusted on first use:
	// the download cache records its SHA-256 beside it and checks the
	// cached copy against that record later (FetchReport shows the values,
	// so that they can be pinned).
	ZipSize     int64
	ZipSHA256   string
	SplitSHA256 map[string]string
	// MaxZipBytes and MaxListBytes bound the download of a zip or split
	// list whose size is not pinned (0: no bound).
	MaxZipBytes  int64
	MaxListBytes int64
	// Limits for a safe extraction.
	MaxFiles     int
	MaxFileBytes int64
	MaxBytes     int64
}

// TrashNet is the dataset's official source: dataset-resized.zip (2,527
// images) and the one-indexed split lists from its GitHub repository.
// The repository publishes no checksum or size for them, so nothing is
// pinned: the first download is recorded and later ones are checked
// against it, and the class counts and split lists check the content. The
// download bounds sit far above the real files, only to stop a server that
// sends without end.
func TrashNet() Source {
	const repo = "https://raw.githubusercontent.com/garythung/trashnet/master/data/"
	return Source{
		ZipURL: "https://github.com/garythung/trashnet/raw/master/data/dataset-resized.zip",
		Splits: map[string]string{
			"train": repo + "one-indexed-files-notrash_train.txt",
			"val":   repo + "one-indexed-files-notrash_val.txt",
			"test":  repo + "one-indexed-files-notrash_test.txt",
		},
		Counts:      map[string]int{"cardboard": 403, "glass": 501, "metal": 410, "paper": 594, "plastic": 482, "trash": 137},
		MaxZipBytes: 1 << 30, MaxListBytes: 16 << 20,
		MaxFiles: 10000, MaxFileBytes: 32 << 20, MaxBytes: 2 << 30,
	}
}

// FetchReport summarizes a fetch.
type FetchReport struct {
	Dir       string
	ZipSHA256 string
	// SplitSHA256 is the SHA-256 of each split list, by split name.
	SplitSHA256 map[string]string
	Splits      map[string]int
}

// Fetch downloads the zip and split lists (resumably, into the download
// cache), extracts the zip safely and writes dir/<split>/<class>/<file>.
// The folder appears only when complete: it is built beside dir and renamed
// in one step (dir must be absent or empty). A repeated split-list line is
// used once; a file listed in two splits or with two labels is an error.
func Fetch(ctx context.Context, client *http.Client, src Source, dir string, progress func(done, total int64)) (FetchReport, error) {
	rep := FetchReport{Dir: dir, Splits: map[string]int{}, SplitSHA256: map[string]string{}}
	if _, err := os.Stat(filepath.Join(dir, "train")); err == nil {
		return rep, fmt.Errorf("data fetch: %s already holds a train folder", dir)
	}
	cache := filepath.Join(download.CacheDir(), "datasets")
	zipPath := filepath.Join(cache, path.Base(src.ZipURL))
	res, err := download.Fetch(ctx, client, download.Request{
		URL: src.ZipURL, Dest: zipPath,
		Size: src.ZipSize, SHA256: src.ZipSHA256, MaxSize: src.MaxZipBytes,
		Progress: progress,
	})
	if err != nil {
		return rep, err
	}
	rep.ZipSHA256 = res.SHA256
	lists := map[string]string{}
	for split, u := range src.Splits {
		p := filepath.Join(cache, path.Base(u))
		res, err := download.Fetch(ctx, client, download.Request{URL: u, Dest: p, SHA256: src.SplitSHA256[split], MaxSize: src.MaxListBytes})
		if err != nil {
			return rep, err
		}
		lists[split] = p
		rep.SplitSHA256[split] = res.SHA256
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return rep, err
	}
	removeStaleFetches(parent)
	tmp, err := os.MkdirTemp(parent, fetchTempPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	raw := filepath.Join(tmp, "raw")
	files, err := ExtractZip(zipPath, raw, src)
	if err != nil {
		return rep, err
	}
	// Index the extracted images by file name; check the class counts.
	byName := map[string]string{}
	counts := map[string]int{}
	for _, f := range files {
		if !IsImageName(f) {
			continue
		}
		byName[filepath.Base(f)] = f
		counts[filepath.Base(filepath.Dir(f))]++
	}
	for c, want := range src.Counts {
		if counts[c] != want {
			return rep, fmt.Errorf("data fetch: %s has %d %s images, expected %d", zipPath, counts[c], c, want)
		}
	}
	out := filepath.Join(tmp, "out")
	splits := make([]string, 0, len(lists))
	for s := range lists {
		splits = append(splits, s)
	}
	sort.Strings(splits)
	type listed struct{ split, class string }
	seen := map[string]listed{}
	for _, split := range splits {
		names, labels, err := ParseSplitFile(lists[split])
		if err != nil {
			return rep, err
		}
		for i, n := range names {
			class, ok := TrashNetLabels[labels[i]]
			if !ok {
				return rep, fmt.Errorf("%s: %s has unknown label %d", lists[split], n, labels[i])
			}
			if prev, dup := seen[n]; dup {
				if prev == (listed{split, class}) {
					continue // a repeated line: the image is there once
				}
				return rep, fmt.Errorf("data fetch: %s is listed as %s/%s and as %s/%s", n, prev.split, prev.class, split, class)
			}
			seen[n] = listed{split, class}
			srcFile, ok := byName[n]
			if !ok {
				return rep, fmt.Errorf("data fetch: %s names %s, which the zip lacks", lists[split], n)
			}
			dst := filepath.Join(out, split, class, n)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return rep, err
			}
			if err := os.Link(filepath.Join(raw, srcFile), dst); err != nil {
				if err := copyFile(filepath.Join(raw, srcFile), dst); err != nil {
					return rep, err
				}
			}
			rep.Splits[split]++
		}
	}
	// One rename puts the whole tree in place: a crash leaves either no
	// dataset or all of it.
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("data fetch: %s exists and is not empty: move it away or choose another --dir", dir)
	}
	if err := os.Rename(out, dir); err != nil {
		return rep, fmt.Errorf("data fetch: %w", err)
	}
	if err := atomicfile.SyncDir(parent); err != nil {
		return rep, err
	}
	return rep, nil
}

// fetchTempPrefix names the folders a fetch builds in, followed by its
// process id.
const fetchTempPrefix = ".trashsort-fetch-"

// removeStaleFetches deletes build folders of fetches whose process no
// longer runs (killed mid-fetch).
func removeStaleFetches(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), fetchTempPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && pid > 0 && processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}

func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	// O_EXCL: never write through an existing name (it may be a hard
	// link to the source).
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ExtractZip extracts the regular files of a zip into dir, refusing entries
// that would escape it (absolute or ../ paths), symlinks, and archives over
// the source's limits. It skips macOS metadata (__MACOSX, ._ files) and
// returns the extracted paths relative to dir.
func ExtractZip(zipPath, dir string, src Source) ([]string, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", zipPath, err)
	}
	defer zr.Close()
	if src.MaxFiles > 0 && len(zr.File) > src.MaxFiles {
		return nil, fmt.Errorf("%s: %d entries exceed the limit of %d", zipPath, len(zr.File), src.MaxFiles)
	}
	var total int64
	var out []string
	for _, f := range zr.File {
		name := f.Name
		if strings.Contains(name, "\\") || path.IsAbs(name) || filepath.IsAbs(name) {
			return nil, fmt.Errorf("%s: unsafe entry %q", zipPath, name)
		}
		clean := path.Clean(name)
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("%s: entry %q escapes the destination", zipPath, name)
		}
		if f.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s: entry %q is a symlink", zipPath, name)
		}
		if f.FileInfo().IsDir() || strings.HasPrefix(clean, "__MACOSX") || strings.HasPrefix(path.Base(clean), "._") {
			continue
		}
		if !f.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: entry %q is not a regular file", zipPath, name)
		}
		if src.MaxFileBytes > 0 && f.UncompressedSize64 > uint64(src.MaxFileBytes) {
			return nil, fmt.Errorf("%s: entry %q is %d bytes, over the limit of %d", zipPath, name, f.UncompressedSize64, src.MaxFileBytes)
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", zipPath, name, err)
		}
		w, err := os.Create(dst)
		if err != nil {
			rc.Close()
			return nil, err
		}
		limit := src.MaxFileBytes
		if limit <= 0 {
			limit = 1 << 40
		}
		n, err := io.Copy(w, io.LimitReader(rc, limit+1))
		rc.Close()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", zipPath, name, err)
		}
		if n > limit {
			return nil, fmt.Errorf("%s: entry %q inflates past the limit of %d bytes", zipPath, name, limit)
		}
		total += n
		if src.MaxBytes > 0 && total > src.MaxBytes {
			return nil, fmt.Errorf("%s: archive inflates past the limit of %d bytes", zipPath, src.MaxBytes)
		}
		out = append(out, filepath.FromSlash(clean))
	}
	return out, nil
}
