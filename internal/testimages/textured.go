package testimages

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Textured writes a w x h image of gradients and stripes that vary with
// seed, as a JPEG or, for a name ending in .png, a PNG; unlike flat colours
// its pixels differ after any resize, so a wrong filter or an image taken
// for another shows in a model's output.
func Textured(tb testing.TB, path string, w, h, seed int) {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			stripe := uint8(0)
			if (x/(2+seed%5)+y/(3+seed%3))%2 == 0 {
				stripe = 80
			}
			img.Set(x, y, color.RGBA{uint8(255 * x / w), uint8(255*y/h) ^ uint8(37*seed), stripe + uint8(17*seed), 255})
		}
	}
	var b bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			err = os.WriteFile(path, b.Bytes(), 0o644)
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
}
