package data

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"trashsort/internal/testimages"
)

// FuzzDecode: any bytes decode or fail with one of the decode errors within
// a time budget; a decoded image respects the pixel limit, and the memory
// estimated from its header stays within the budget that limit implies.
func FuzzDecode(f *testing.F) {
	f.Add(jpegBytes(10))
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, 40, 30)))
	f.Add(b.Bytes())
	b.Reset()
	gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, 9, 9), []color.Color{color.Black, color.White}), nil)
	f.Add(b.Bytes())
	f.Add(testimages.PNGBomb())
	f.Add(testimages.ProgressiveJPEG(64, 48))
	f.Add(testimages.PNGHeader(2000, 2000, 16, 6))
	f.Add(rawPNG(5, 4, 16, 6, [][]byte{make([]byte, 40), make([]byte, 40), make([]byte, 40), make([]byte, 40)}))
	f.Add(rawPNG(3, 2, 8, 4, [][]byte{{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}}))
	f.Add([]byte("GIF89a"))
	const maxPixels = 4_000_000
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := Inspect(data, maxPixels); err == nil && h.DecodeBytes > int64(maxPixels)*26 {
			t.Fatalf("%dx%d %s: estimated %d bytes, over the budget for %d pixels", h.W, h.H, h.Format, h.DecodeBytes, maxPixels)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		img, err := DecodeContext(ctx, data, maxPixels)
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if img.W*img.H > maxPixels || len(img.Pix) != 3*img.W*img.H {
			t.Fatalf("decoded %dx%d with %d bytes", img.W, img.H, len(img.Pix))
		}
		// The resized views (PNGs streamed row by row) equal the full
		// decode resized.
		sizes := []int{16, 40}
		views, err := DecodeResizedSizes(ctx, data, maxPixels, sizes, Bilinear)
		if err != nil {
			t.Fatalf("decodes in full but not resized: %v", err)
		}
		for i, s := range sizes {
			if !bytes.Equal(views[i].Pix, Resize(img, s, s, Bilinear).Pix) {
				t.Fatalf("the %d px view differs from the full decode resized", s)
			}
		}
	})
}

// FuzzExtractZip: any archive extracts only regular files inside the
// destination, within the limits, or fails.
func FuzzExtractZip(f *testing.F) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range []string{"d/glass/a.jpg", "../escape.jpg", "d/x/../../b.jpg", "__MACOSX/._a.jpg"} {
		w, _ := zw.Create(n)
		w.Write([]byte("content"))
	}
	zw.Close()
	f.Add(b.Bytes())
	src := Source{MaxFiles: 50, MaxFileBytes: 1 << 16, MaxBytes: 1 << 18}
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp := t.TempDir()
		zp := filepath.Join(tmp, "a.zip")
		os.WriteFile(zp, data, 0o644)
		dst := filepath.Join(tmp, "out")
		files, err := ExtractZip(zp, dst, src)
		if err != nil {
			return
		}
		var total int64
		for _, p := range files {
			full := filepath.Join(dst, p)
			if !strings.HasPrefix(full, dst+string(filepath.Separator)) {
				t.Fatalf("%q extracted outside the destination", p)
			}
			st, err := os.Lstat(full)
			if err != nil || !st.Mode().IsRegular() || st.Size() > src.MaxFileBytes {
				t.Fatalf("%q: %v %v", p, st, err)
			}
			total += st.Size()
		}
		if total > src.MaxBytes {
			t.Fatalf("extracted %d bytes", total)
		}
	})
}

// FuzzParseSplitFile: any list parses into matching names and labels or fails.
func FuzzParseSplitFile(f *testing.F) {
	f.Add([]byte("glass1.jpg 1\npaper1.jpg 2\n"))
	f.Add([]byte("a.jpg 1\na.jpg 1\n\n  b.jpg   3  \n"))
	f.Add([]byte("x -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "list.txt")
		os.WriteFile(p, data, 0o644)
		names, labels, err := ParseSplitFile(p)
		if err == nil && len(names) != len(labels) {
			t.Fatalf("%d names, %d labels", len(names), len(labels))
		}
	})
}
