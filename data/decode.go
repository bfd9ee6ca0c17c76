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
	per += 3 // the RGB copy
	if format == "jpeg" {
		per += 3 // orientation copy
		if h.Progressive = progressiveJPEG(b); h.Progressive {
			per += 12 // 64 int32 coefficients per 8x8 block and component
		}
	}
	h.DecodeBytes = px * per
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
	h, err := Inspect(b, maxPixels)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(ctxReader{ctx, bytes.NewReader(b)})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("%w %s: %v", ErrCorrupt, h.Format, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := toRGB(img)
	if h.Format == "jpeg" {
		out = orient(out, exifOrientation(b))
	}
	return out, nil
}
