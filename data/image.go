package data

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // GIF decoder
	"image/jpeg"
	_ "image/png" // PNG decoder
	"io"
	"os"

	_ "golang.org/x/image/bmp"  // BMP decoder
	_ "golang.org/x/image/webp" // WebP decoder
)

// MaxPixels bounds the size of an image that will be decoded; larger
// headers (decompression bombs) are rejected before any pixel is allocated.
var MaxPixels = 50_000_000

// MaxFileBytes bounds the size of an image file.
var MaxFileBytes int64 = 64 << 20

// RGB is an 8-bit RGB image, row-major, 3 bytes per pixel.
type RGB struct {
	W, H int
	Pix  []uint8
}

// DecodeFile reads an image file (JPEG, PNG, GIF, BMP or WebP), applies the
// JPEG EXIF orientation and converts it to RGB. Errors name the file.
func DecodeFile(path string) (*RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes exceeds the %d-byte limit", path, st.Size(), MaxFileBytes)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// Decode decodes an image held in memory; see DecodeFile.
func Decode(b []byte) (*RGB, error) { return DecodeLimited(b, MaxPixels) }

// DecodeLimited is Decode with an explicit pixel limit.
func DecodeLimited(b []byte, maxPixels int) (*RGB, error) {
	return DecodeContext(context.Background(), b, maxPixels)
}

// dropAlpha fills out from 4-byte pixels (R, G, B, alpha) whose rows lie
// stride bytes apart, leaving alpha out.
func dropAlpha(out *RGB, pix []uint8, stride int) *RGB {
	for y := 0; y < out.H; y++ {
		row := pix[y*stride:]
		for x := 0; x < out.W; x++ {
			o := 3 * (y*out.W + x)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = row[4*x], row[4*x+1], row[4*x+2]
		}
	}
	return out
}

func toRGB(img image.Image) *RGB {
	r := img.Bounds()
	out := &RGB{W: r.Dx(), H: r.Dy(), Pix: make([]uint8, 3*r.Dx()*r.Dy())}
	switch src := img.(type) {
	case *image.YCbCr:
		for y := 0; y < out.H; y++ {
			for x := 0; x < out.W; x++ {
				yi := src.YOffset(r.Min.X+x, r.Min.Y+y)
				ci := src.COffset(r.Min.X+x, r.Min.Y+y)
				R, G, B := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				o := 3 * (y*out.W + x)
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = R, G, B
			}
		}
		return out
	case *image.RGBA:
		// Alpha is premultiplied: dropping it composites over black, as PIL's convert('RGB') does.
		return dropAlpha(out, src.Pix, src.Stride)
	case *image.NRGBA:
		return dropAlpha(out, src.Pix, src.Stride)
	case *image.Gray:
		for y := 0; y < out.H; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < out.W; x++ {
				o := 3 * (y*out.W + x)
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = row[x], row[x], row[x]
			}
		}
		return out
	case *image.NRGBA64:
		for y := 0; y < out.H; y++ {
			for x := 0; x < out.W; x++ {
				c := nrgba64ToNRGBA(src.NRGBA64At(r.Min.X+x, r.Min.Y+y))
				o := 3 * (y*out.W + x)
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = c.R, c.G, c.B
			}
		}
		return out
	}
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			c := color.NRGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA)
			o := 3 * (y*out.W + x)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = c.R, c.G, c.B
		}
	}
	return out
}

// nrgba64ToNRGBA is color.NRGBAModel.Convert for an NRGBA64 colour, without
// the interface conversions (16-bit PNGs take this path pixel by pixel).
func nrgba64ToNRGBA(c color.NRGBA64) color.NRGBA {
	r, g, b, a := c.RGBA()
	if a == 0xffff {
		return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}
	}
	if a == 0 {
		return color.NRGBA{}
	}
	r = (r * 0xffff) / a
	g = (g * 0xffff) / a
	b = (b * 0xffff) / a
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

// exifOrientation returns the EXIF orientation tag (1..8) of a JPEG, or 1.
func exifOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xDA || marker == 0xD9 {
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) > 14 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[off:]))
	for k := 0; k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 {
			v := int(bo.Uint16(t[e+8:]))
			if v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// orient applies an EXIF orientation so that the image is upright.
func orient(img *RGB, o int) *RGB {
	if o <= 1 || o > 8 {
		return img
	}
	w, h := img.W, img.H
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, len(img.Pix))}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			copy(out.Pix[3*(dy*ow+dx):3*(dy*ow+dx)+3], img.Pix[3*(y*w+x):3*(y*w+x)+3])
		}
	}
	return out
}

// Resize methods.
const (
	Bilinear = "bilinear"
	Nearest  = "nearest"
)

// Resize scales img to w x h. Bilinear uses pixel-centre alignment (PIL's
// and TensorFlow's half-pixel convention, without antialiasing); nearest
// picks the pixel under each output centre (Keras' load_img default).
func Resize(img *RGB, w, h int, method string) *RGB {
	if img.W == w && img.H == h {
		return img
	}
	at := func(x, y int) [3]uint8 {
		i := 3 * (y*img.W + x)
		return [3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}
	}
	return resample(at, img.W, img.H, w, h, method)
}

// AppendFloats appends the pixels to dst as float32 values in [0, 255],
// the models' raw input.
func (img *RGB) AppendFloats(dst []float32) []float32 {
	for _, v := range img.Pix {
		dst = append(dst, float32(v))
	}
	return dst
}

// Encode writes img as a JPEG (for thumbnails and tests).
func (img *RGB) Encode(w io.Writer, quality int) error {
	im := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for i := 0; i < img.W*img.H; i++ {
		copy(im.Pix[4*i:4*i+3], img.Pix[3*i:3*i+3])
		im.Pix[4*i+3] = 255
	}
	return jpeg.Encode(w, im, &jpeg.Options{Quality: quality})
}
