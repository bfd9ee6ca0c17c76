package data

import (
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"

	"trashsort/atomicfile"
)

// WriteShifted writes every photo of ds as its Shift view (seeded by the
// file's name and seed) into out/<class>/<name>.jpg: a copy of a
// validation split on backgrounds and lighting that training never draws,
// for measuring how a model holds up off its board. It returns the number
// written; a photo that fails to decode is an error naming it.
func WriteShifted(ctx context.Context, ds *Dataset, out string, seed uint64) (int, error) {
	n := 0
	for _, it := range ds.Items {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		img, err := DecodeFile(it.Path)
		if err != nil {
			return n, err
		}
		// At most 512 px on the long side: the mask's feathering is in pixels.
		if s := max(img.W, img.H); s > 512 {
			img = Resize(img, img.W*512/s, img.H*512/s, Bilinear)
		}
		h := fnv.New64a()
		io.WriteString(h, filepath.Base(it.Path))
		v := Shift(img, h.Sum64()^seed)
		dir := filepath.Join(out, ds.Classes[it.Label])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return n, fmt.Errorf("shift: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(it.Path), filepath.Ext(it.Path)) + ".jpg"
		rgba := image.NewRGBA(image.Rect(0, 0, v.W, v.H))
		for i := 0; i < v.W*v.H; i++ {
			copy(rgba.Pix[4*i:4*i+3], v.Pix[3*i:3*i+3])
			rgba.Pix[4*i+3] = 255
		}
		if err := atomicfile.Write(filepath.Join(dir, name), func(w io.Writer) error {
			return jpeg.Encode(w, rgba, &jpeg.Options{Quality: 95})
		}); err != nil {
			return n, fmt.Errorf("shift: %w", err)
		}
		n++
	}
	return n, nil
}
