package data

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// testImages returns one image of each decoded type toRGB has a path for,
// filled with random pixels.
func testImages(w, h int) map[string]image.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	r := image.Rect(0, 0, w, h)
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for _, p := range [][]uint8{ycc.Y, ycc.Cb, ycc.Cr} {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	rgba, nrgba, gray, n64 := image.NewRGBA(r), image.NewNRGBA(r), image.NewGray(r), image.NewNRGBA64(r)
	for _, p := range [][]uint8{rgba.Pix, nrgba.Pix, gray.Pix, n64.Pix} {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	for i := 3; i < len(rgba.Pix); i += 4 { // premultiplied: colour <= alpha
		rgba.Pix[i] = 255
	}
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.RGBA{200, 10, 30, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(3))
	}
	return map[string]image.Image{"ycbcr420": ycc, "rgba": rgba, "nrgba": nrgba, "gray": gray, "nrgba64": n64, "paletted": pal}
}

// TestResizeImageMatchesTwoPass: sampling the decoded image in place gives
// exactly Resize(orient(toRGB(img))) for every type, orientation, method,
// and for down- and up-scaling.
func TestResizeImageMatchesTwoPass(t *testing.T) {
	for name, img := range testImages(53, 37) {
		for o := 1; o <= 8; o++ {
			for _, method := range []string{Bilinear, Nearest} {
				for _, size := range [][2]int{{20, 15}, {53, 37}, {37, 53}, {90, 70}} {
					t.Run(fmt.Sprintf("%s/o=%d/%s/%dx%d", name, o, method, size[0], size[1]), func(t *testing.T) {
						want := Resize(orient(toRGB(img), o), size[0], size[1], method)
						got := resizeImage(img, o, size[0], size[1], method)
						if got.W != want.W || got.H != want.H || !bytes.Equal(got.Pix, want.Pix) {
							t.Fatalf("got %dx%d, want %dx%d; pixels differ", got.W, got.H, want.W, want.H)
						}
					})
				}
			}
		}
	}
}

// TestDecodeResized: the one-pass decode equals decoding and then resizing,
// and keeps DecodeContext's limit and corruption errors.
func TestDecodeResized(t *testing.T) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImages(64, 48)["rgba"], nil); err != nil {
		t.Fatal(err)
	}
	full, err := DecodeLimited(b.Bytes(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := Resize(full, 30, 30, Bilinear)
	got, err := DecodeResized(context.Background(), b.Bytes(), 1<<20, 30, 30, Bilinear)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Fatal("DecodeResized differs from Resize(DecodeLimited)")
	}
	if _, err := DecodeResized(context.Background(), b.Bytes(), 1000, 30, 30, Bilinear); err == nil {
		t.Fatal("a 3072-pixel image passed a 1000-pixel limit")
	}
	if _, err := DecodeResized(context.Background(), b.Bytes()[:len(b.Bytes())/2], 1<<20, 30, 30, Bilinear); err == nil {
		t.Fatal("a truncated JPEG decoded")
	}
}
