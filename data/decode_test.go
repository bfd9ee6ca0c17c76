package data

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"

	"trashsort/internal/testimages"
)

// TestToRGBFastPathsMatchGeneric checks the per-type conversions against
// color.NRGBAModel, the generic path.
func TestToRGBFastPathsMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := image.Rect(0, 0, 7, 5)
	n64, n8, g := image.NewNRGBA64(r), image.NewNRGBA(r), image.NewGray(r)
	for _, p := range [][]byte{n8.Pix, g.Pix} {
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
	}
	for i := range n64.Pix {
		n64.Pix[i] = byte(rng.IntN(256))
	}
	n64.Pix[7], n64.Pix[6] = 0, 0 // one transparent pixel
	for _, img := range []image.Image{n64, n8, g} {
		got := toRGB(img)
		for y := 0; y < 5; y++ {
			for x := 0; x < 7; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				o := 3 * (y*7 + x)
				if got.Pix[o] != c.R || got.Pix[o+1] != c.G || got.Pix[o+2] != c.B {
					t.Fatalf("%T at %d,%d: %v, want %v", img, x, y, got.Pix[o:o+3], c)
				}
			}
		}
	}
}

func TestInspectAndDecodeContext(t *testing.T) {
	var b bytes.Buffer
	png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, 300, 200)))
	h, err := Inspect(b.Bytes(), 1_000_000)
	if err != nil || h.W != 300 || h.H != 200 || h.DecodeBytes != 300*200*11 {
		t.Fatalf("Inspect: %+v %v", h, err)
	}
	if _, err := Inspect(b.Bytes(), 300*200-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := Inspect(testimages.PNGBomb(), MaxPixels); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bomb: %v", err)
	}
	if _, err := Inspect([]byte("hello"), MaxPixels); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("text: %v", err)
	}
	if _, err := DecodeContext(context.Background(), b.Bytes()[:b.Len()/2], MaxPixels); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DecodeContext(ctx, b.Bytes(), MaxPixels); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	img, err := DecodeContext(context.Background(), b.Bytes(), MaxPixels)
	if err != nil || img.W != 300 || img.H != 200 {
		t.Errorf("decode: %v", err)
	}
}

// TestInspectProgressiveJPEG: a progressive JPEG's estimate counts the
// coefficients its decoder keeps (a 188 KB file decodes 4000 x 4000).
func TestInspectProgressiveJPEG(t *testing.T) {
	b := testimages.ProgressiveJPEG(800, 600)
	h, err := Inspect(b, MaxPixels)
	if err != nil || !h.Progressive || h.DecodeBytes != 800*600*21 {
		t.Fatalf("%+v %v", h, err)
	}
	img, err := DecodeContext(context.Background(), b, MaxPixels)
	if err != nil || img.W != 800 || img.Pix[0] != 128 {
		t.Fatalf("decode: %v", err)
	}
	var base bytes.Buffer
	(&RGB{W: 8, H: 8, Pix: make([]byte, 192)}).Encode(&base, 90)
	if h, _ := Inspect(base.Bytes(), MaxPixels); h.Progressive {
		t.Error("baseline JPEG taken for progressive")
	}
}
