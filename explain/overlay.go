package explain

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"

	"trashsort/atomicfile"
	"trashsort/data"
)

// sample returns the heat map bilinearly interpolated at (u, v) in [0, 1]
// (cell centres at (i + 0.5) / W).
func (h *HeatMap) sample(u, v float64) float32 {
	x := u*float64(h.W) - 0.5
	y := v*float64(h.H) - 0.5
	x0, y0 := int(x), int(y)
	if x < 0 {
		x0 = -1
	}
	if y < 0 {
		y0 = -1
	}
	fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
	at := func(i, j int) float32 {
		return h.At(min(max(i, 0), h.W-1), min(max(j, 0), h.H-1))
	}
	top := at(x0, y0)*(1-fx) + at(x0+1, y0)*fx
	bot := at(x0, y0+1)*(1-fx) + at(x0+1, y0+1)*fx
	return top*(1-fy) + bot*fy
}

// jet maps [0, 1] to a blue-cyan-yellow-red colour scale.
func jet(v float32) (r, g, b float32) {
	clamp := func(x float32) float32 { return min(max(x, 0), 1) }
	return clamp(1.5 - abs(4*v-3)), clamp(1.5 - abs(4*v-2)), clamp(1.5 - abs(4*v-1))
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// Overlay blends the heat map over the photo (any size): warm colours
// where the evidence for the class lies, weighted by its strength.
func Overlay(img *data.RGB, h *HeatMap) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			v := h.sample((float64(x)+0.5)/float64(img.W), (float64(y)+0.5)/float64(img.H))
			r, g, b := jet(v)
			a := 0.25 + 0.4*v
			i := 3 * (y*img.W + x)
			mix := func(p byte, c float32) uint8 { return uint8(float32(p)*(1-a) + 255*c*a + 0.5) }
			out.SetRGBA(x, y, color.RGBA{mix(img.Pix[i], r), mix(img.Pix[i+1], g), mix(img.Pix[i+2], b), 255})
		}
	}
	return out
}

// OverlayPNG encodes Overlay(img, h) as PNG.
func OverlayPNG(img *data.RGB, h *HeatMap) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, Overlay(img, h)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteOverlay writes the overlay PNG to path atomically.
func WriteOverlay(path string, img *data.RGB, h *HeatMap) error {
	b, err := OverlayPNG(img, h)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
