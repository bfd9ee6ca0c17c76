package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
)

// Errors DecodeContext and Inspect wrap, for callers that map them to
// statuses (errors.Is).
var (
	// ErrUnknownFormat: the bytes are not an image in a known format.
	ErrUnknownFormat = errors.New("not an image (unknown format)")
	// ErrCorrupt: the image header or data is damaged or truncated.
	ErrCorrupt = errors.New("corrupt or truncated image")
	// ErrTooLarge: the header claims more pixels than allowed.
	ErrTooLarge = errors.New("image exceeds the pixel limit")
)

// MaxSide bounds either side of a decoded image.
const MaxSide = 1 << 16

// Header is what an image file's header says, read without decoding pixels.
type Header struct {
	W, H   int
	Format string
	// Progressive is true for a progressive JPEG (its decoder keeps every
	// coefficient of the image in memory).
	Progressive bool
	// DecodeBytes estimates the peak memory a full decode takes: the
	// decoder's own image (and coefficients), the RGB copy and, for JPEG,
	// the orientation copy.
	DecodeBytes int64
	// ResizedBytes estimates the peak memory of DecodeResized: the
	// decoder's own image and coefficients, without the copies (a few rows
	// for the PNGs that are decoded row by row).
	ResizedBytes int64
}

// Inspect reads the header of an image held in memory and checks its size
// against maxPixels and MaxSide before anything is decoded.
func Inspect(b []byte, maxPixels int) (Header, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return Header{}, ErrUnknownFormat
		}
		return Header{}, fmt.Errorf("%w header: %v", ErrCorrupt, err)
	}
	h := Header{W: cfg.Width, H: cfg.Height, Format: format}
	if h.W <= 0 || h.H <= 0 {
		return h, fmt.Errorf("%w: bad image size %dx%d", ErrCorrupt, h.W, h.H)
	}
	if h.W > MaxSide || h.H > MaxSide || int64(h.W)*int64(h.H) > int64(maxPixels) {
		return h, fmt.Errorf("%dx%d %s image exceeds the %d-pixel limit: %w", h.W, h.H, format, maxPixels, ErrTooLarge)
	}
	px := int64(h.W) * int64(h.H)
	per := int64(4) // decoder image, worst 8-bit case
	switch cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		per = 1
	case color.Gray16Model, color.Alpha16Model:
		per = 2
	case color.RGBA64Model, color.NRGBA64Model:
		per = 8
	case color.YCbCrModel:
		per = 3
	case color.CMYKModel:
		per = 4
	}
	if _, ok := cfg.ColorModel.(color.Palette); ok {
		per = 1
	}
	copies := int64(3) // the RGB copy
	if format == "jpeg" {
		copies += 3 // orientation copy
		if h.Progressive = progressiveJPEG(b); h.Progressive {
			per += 12 // 64 int32 coefficients per 8x8 block and component
		}
	}
	h.DecodeBytes = px * (per + copies)
	h.ResizedBytes = px * per
	if ph, ok := streamablePNG(b); ok { // two raw and two RGB rows, and zlib's window
		h.ResizedBytes = int64(ph.w)*int64(2*ph.channels*ph.depth/8+6) + 64<<10
	}
	return h, nil
}

// progressiveJPEG reports whether a JPEG's frame header is progressive (SOF2).
func progressiveJPEG(b []byte) bool {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return false
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		switch {
		case m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE:
			return true
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return false
		case m == 0xDA || m == 0xD9:
			return false
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 {
			return false
		}
		i += 2 + n
	}
	return false
}

// ctxReader fails reads once ctx is done, so that a long decode stops
// early (the decoders read their input in small pieces as they go).
type ctxReader struct {
	ctx context.Context
	r   *bytes.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// DecodeContext is DecodeLimited that gives up when ctx is done (returning
// ctx's error). Errors wrap ErrUnknownFormat, ErrCorrupt or ErrTooLarge.
func DecodeContext(ctx context.Context, b []byte, maxPixels int) (*RGB, error) {
	img, o, err := decodeOriented(ctx, b, maxPixels)
	if err != nil {
		return nil, err
	}
	return orient(toRGB(img), o), nil
}

// DecodeResized decodes like DecodeContext and scales the upright image to
// w x h with Resize's method. It samples the decoded pixels in place, so the
// result equals Resize(DecodeContext(...)) without the full-size RGB copy
// (48 MB and a pass over every pixel for a 16-megapixel photo).
func DecodeResized(ctx context.Context, b []byte, maxPixels, w, h int, method string) (*RGB, error) {
	if w == h {
		if out, ok, err := decodeStreamed(ctx, b, maxPixels, []int{w}, method); ok {
			if err != nil {
				return nil, err
			}
			return out[0], nil
		}
	}
	img, o, err := decodeOriented(ctx, b, maxPixels)
	if err != nil {
		return nil, err
	}
	return resizeImage(img, o, w, h, method), nil
}

// DecodeResizedSizes is DecodeResized at several square sizes from one
// decode, for multi-scale prediction.
func DecodeResizedSizes(ctx context.Context, b []byte, maxPixels int, sizes []int, method string) ([]*RGB, error) {
	if out, ok, err := decodeStreamed(ctx, b, maxPixels, sizes, method); ok {
		return out, err
	}
	img, o, err := decodeOriented(ctx, b, maxPixels)
	if err != nil {
		return nil, err
	}
	out := make([]*RGB, len(sizes))
	for i, s := range sizes {
		out[i] = resizeImage(img, o, s, s, method)
	}
	return out, nil
}

// decodeStreamed decodes b straight to square views when it is a PNG the
// streaming decoder handles (ok true), after Inspect's checks.
func decodeStreamed(ctx context.Context, b []byte, maxPixels int, sizes []int, method string) ([]*RGB, bool, error) {
	ph, ok := streamablePNG(b)
	if !ok {
		return nil, false, nil
	}
	if _, err := Inspect(b, maxPixels); err != nil {
		return nil, true, err
	}
	out, err := decodePNGResized(ctx, b, ph, sizes, method)
	return out, true, err
}

// decodeOriented checks b's header against maxPixels, decodes it (giving up
// when ctx is done) and returns the image as stored with its EXIF
// orientation (1, upright, for formats other than JPEG).
func decodeOriented(ctx context.Context, b []byte, maxPixels int) (image.Image, int, error) {
	h, err := Inspect(b, maxPixels)
	if err != nil {
		return nil, 0, err
	}
	img, _, err := image.Decode(ctxReader{ctx, bytes.NewReader(b)})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, 0, cerr
		}
		return nil, 0, fmt.Errorf("%w %s: %v", ErrCorrupt, h.Format, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if img.Bounds().Empty() { // a GIF's first frame can be empty
		return nil, 0, fmt.Errorf("%w %s: the image has no pixels (%v)", ErrCorrupt, h.Format, img.Bounds())
	}
	o := 1
	if h.Format == "jpeg" {
		o = exifOrientation(b)
	}
	return img, o, nil
}

// resizeImage is Resize(orient(toRGB(img), o), w, h, method), reading only
// the source pixels that the resize uses.
func resizeImage(img image.Image, o, w, h int, method string) *RGB {
	at, sw, sh := uprightSampler(img, o)
	if sw == w && sh == h {
		return orient(toRGB(img), o)
	}
	if sw*sh <= w*h && method == Bilinear {
		// An upscale reads each source pixel several times: convert each
		// one once instead (a 120x90 JPEG to 224x224: 4 ms -> 0.5 ms).
		return bilinearRGB(orient(toRGB(img), o), w, h)
	}
	return resample(at, sw, sh, w, h, method)
}

// bilinearRGB is resample's bilinear method on an RGB image in memory.
func bilinearRGB(src *RGB, w, h int) *RGB {
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	sw, sh := src.W, src.H
	sx, sy := float64(sw)/float64(w), float64(sh)/float64(h)
	x0s, x1s, wxs := make([]int, w), make([]int, w), make([]float32, w)
	for x := range x0s {
		x0, x1, wx := bilinearTaps(x, sx, sw)
		x0s[x], x1s[x], wxs[x] = 3*x0, 3*x1, wx
	}
	for y := 0; y < h; y++ {
		y0, y1, wy := bilinearTaps(y, sy, sh)
		r0, r1 := src.Pix[3*y0*sw:3*(y0+1)*sw], src.Pix[3*y1*sw:3*(y1+1)*sw]
		row := out.Pix[3*y*w : 3*(y+1)*w]
		for x := 0; x < w; x++ {
			a, b, wx := x0s[x], x1s[x], wxs[x]
			for c := 0; c < 3; c++ {
				row[3*x+c] = lerp2(r0[a+c], r0[b+c], r1[a+c], r1[b+c], wx, wy)
			}
		}
	}
	return out
}

// resample scales the sw x sh image read through at to w x h with Resize's
// method and conventions.
func resample(at func(x, y int) [3]uint8, sw, sh, w, h int, method string) *RGB {
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	sx, sy := float64(sw)/float64(w), float64(sh)/float64(h)
	if method == Nearest {
		for y := 0; y < h; y++ {
			iy := nearestTap(y, sy, sh)
			for x := 0; x < w; x++ {
				p := at(nearestTap(x, sx, sw), iy)
				copy(out.Pix[3*(y*w+x):3*(y*w+x)+3], p[:])
			}
		}
		return out
	}
	x0s, x1s, wxs := make([]int, w), make([]int, w), make([]float32, w)
	for x := range x0s {
		x0s[x], x1s[x], wxs[x] = bilinearTaps(x, sx, sw)
	}
	for y := 0; y < h; y++ {
		y0, y1, wy := bilinearTaps(y, sy, sh)
		for x := 0; x < w; x++ {
			x0, x1, wx := x0s[x], x1s[x], wxs[x]
			q00, q01, q10, q11 := at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1)
			for c := 0; c < 3; c++ {
				out.Pix[3*(y*w+x)+c] = lerp2(q00[c], q01[c], q10[c], q11[c], wx, wy)
			}
		}
	}
	return out
}

// nearestTap is the source index output index i reads at scale (source
// size over output size) from a source of n, nearest-neighbour.
func nearestTap(i int, scale float64, n int) int { return min(int((float64(i)+0.5)*scale), n-1) }

// bilinearTaps are the two source indices output index i reads at scale
// from a source of n (half-pixel centres, clamped) and the second's weight.
func bilinearTaps(i int, scale float64, n int) (i0, i1 int, w float32) {
	f := max((float64(i)+0.5)*scale-0.5, 0)
	i0 = min(int(f), n-1)
	return i0, min(i0+1, n-1), float32(f - float64(i0))
}

// lerp2 blends four neighbouring values bilinearly, rounded to uint8.
func lerp2(q00, q01, q10, q11 uint8, wx, wy float32) uint8 {
	p00, p01, p10, p11 := float32(q00), float32(q01), float32(q10), float32(q11)
	v := (p00*(1-wx)+p01*wx)*(1-wy) + (p10*(1-wx)+p11*wx)*wy
	return uint8(min(max(v+0.5, 0), 255))
}

// uprightSampler returns a function reading pixel (x, y) of img as toRGB
// converts it, after the EXIF orientation o (as orient applies it), and the
// upright width and height.
func uprightSampler(img image.Image, o int) (func(x, y int) [3]uint8, int, int) {
	at := rgbSampler(img)
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	switch o {
	case 2:
		return func(x, y int) [3]uint8 { return at(w-1-x, y) }, w, h
	case 3:
		return func(x, y int) [3]uint8 { return at(w-1-x, h-1-y) }, w, h
	case 4:
		return func(x, y int) [3]uint8 { return at(x, h-1-y) }, w, h
	case 5:
		return func(x, y int) [3]uint8 { return at(y, x) }, h, w
	case 6:
		return func(x, y int) [3]uint8 { return at(y, h-1-x) }, h, w
	case 7:
		return func(x, y int) [3]uint8 { return at(w-1-y, h-1-x) }, h, w
	case 8:
		return func(x, y int) [3]uint8 { return at(w-1-y, x) }, h, w
	}
	return at, w, h
}

// rgbSampler returns a function reading pixel (x, y), relative to the
// image's bounds, converted exactly as toRGB converts it.
func rgbSampler(img image.Image) func(x, y int) [3]uint8 {
	r := img.Bounds()
	switch src := img.(type) {
	case *image.YCbCr:
		return func(x, y int) [3]uint8 {
			yi := src.YOffset(r.Min.X+x, r.Min.Y+y)
			ci := src.COffset(r.Min.X+x, r.Min.Y+y)
			R, G, B := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
			return [3]uint8{R, G, B}
		}
	case *image.RGBA:
		return func(x, y int) [3]uint8 {
			i := src.PixOffset(r.Min.X+x, r.Min.Y+y)
			return [3]uint8{src.Pix[i], src.Pix[i+1], src.Pix[i+2]}
		}
	case *image.NRGBA:
		return func(x, y int) [3]uint8 {
			i := src.PixOffset(r.Min.X+x, r.Min.Y+y)
			return [3]uint8{src.Pix[i], src.Pix[i+1], src.Pix[i+2]}
		}
	case *image.Gray:
		return func(x, y int) [3]uint8 {
			v := src.Pix[src.PixOffset(r.Min.X+x, r.Min.Y+y)]
			return [3]uint8{v, v, v}
		}
	case *image.NRGBA64:
		return func(x, y int) [3]uint8 {
			c := nrgba64ToNRGBA(src.NRGBA64At(r.Min.X+x, r.Min.Y+y))
			return [3]uint8{c.R, c.G, c.B}
		}
	}
	return func(x, y int) [3]uint8 {
		c := color.NRGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA)
		return [3]uint8{c.R, c.G, c.B}
	}
}
