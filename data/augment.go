package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Augment holds random augmentation settings with the meanings and
// defaults of Keras' ImageDataGenerator (zero values: off).
type Augment struct {
	// RotationRange: degrees, theta ~ U(-r, r) (rotation_range).
	RotationRange float64
	// WidthShiftRange, HeightShiftRange: fractions of the width and height
	// when < 1, pixels otherwise (width_shift_range, height_shift_range).
	WidthShiftRange, HeightShiftRange float64
	// ShearRange: shear angle in degrees, counter-clockwise (shear_range).
	ShearRange float64
	// ZoomRange: z gives zoom factors in [1-z, 1+z] drawn independently for
	// each axis (zoom_range); factors < 1 zoom in.
	ZoomRange float64
	// HorizontalFlip, VerticalFlip flip with probability 1/2.
	HorizontalFlip, VerticalFlip bool
	// BrightnessRange [lo, hi] multiplies pixel values by U(lo, hi) (brightness_range); zero means off.
	BrightnessRange [2]float64
	// FillMode for points outside the image: "nearest" (default),
	// "constant" (with Cval), "reflect" or "wrap" (fill_mode, cval).
	FillMode string
	Cval     float64

	// CropScale [lo, hi], when set, adds a random resized crop
	// (torchvision's and fastai's RandomResizedCrop): a region covering a
	// fraction s ~ U(lo, hi) of the image with aspect ratio r drawn
	// log-uniformly from CropRatio (default [3/4, 4/3]), at a uniform
	// position, stretched to the full size. It is part of the affine warp,
	// composed with the Keras-style zoom and shift.
	CropScale [2]float64 `json:",omitzero"`
	CropRatio [2]float64 `json:",omitzero"`
	// Contrast and Saturation, when positive, scale contrast (around the
	// image's mean grey) and saturation (around each pixel's grey) by
	// factors ~ U(1-c, 1+c), after brightness (torchvision's ColorJitter).
	Contrast   float64 `json:",omitzero"`
	Saturation float64 `json:",omitzero"`
	// Erasing is the probability of random erasing (Zhong et al. 2017;
	// timm's --reprob): one rectangle covering 2-33% of the image with
	// aspect ratio log-uniform in [0.3, 3.3] is filled with uniform noise.
	Erasing float64 `json:",omitzero"`

	// Robustness to real sites, where items lie on anything but a white
	// board. Background is the probability of taking the item off its
	// board (ItemMask) and compositing it, with a soft shadow, onto a new
	// background: a crop of a photo from the Backgrounds folder (half the
	// time, when set), else a generated one (a two-colour gradient,
	// multi-scale noise, or a zoomed crop of another training photo).
	Background  float64 `json:",omitzero"`
	Backgrounds string  `json:",omitzero"`
	// Hue turns the hue by U(-h, h) of a full turn (torchvision's
	// ColorJitter hue, h <= 0.5); Greyscale is the probability of a grey
	// image (RandomGrayscale).
	Hue       float64 `json:",omitzero"`
	Greyscale float64 `json:",omitzero"`
	// Illumination g multiplies the image by a linear ramp from 1-a to 1+a
	// along a random direction, a ~ U(0, g): light from one side.
	Illumination float64 `json:",omitzero"`
	// Blur is the probability of a Gaussian blur with sigma ~ U(0.1, 2)
	// pixels (torchvision's GaussianBlur); JPEG the probability of
	// re-compression at a quality ~ U{30..90}.
	Blur float64 `json:",omitzero"`
	JPEG float64 `json:",omitzero"`
}

// SeedRecipe is the seed recipe's augmentation: shear 0.2, zoom 0.2,
// horizontal flip.
func SeedRecipe() *Augment {
	return &Augment{ShearRange: 0.2, ZoomRange: 0.2, HorizontalFlip: true}
}

// Validate checks the settings.
func (a *Augment) Validate() error {
	switch a.FillMode {
	case "", "nearest", "constant", "reflect", "wrap":
	default:
		return fmt.Errorf("augment: unknown fill mode %q (nearest, constant, reflect or wrap)", a.FillMode)
	}
	if a.ZoomRange < 0 || a.ZoomRange >= 1 || a.RotationRange < 0 || a.ShearRange < 0 || a.WidthShiftRange < 0 || a.HeightShiftRange < 0 {
		return fmt.Errorf("augment: ranges must be non-negative (zoom below 1): %+v", *a)
	}
	if a.BrightnessRange != [2]float64{} && (a.BrightnessRange[0] <= 0 || a.BrightnessRange[1] < a.BrightnessRange[0]) {
		return fmt.Errorf("augment: bad brightness range %v", a.BrightnessRange)
	}
	if a.CropScale != [2]float64{} && (a.CropScale[0] <= 0 || a.CropScale[1] > 1 || a.CropScale[1] < a.CropScale[0]) {
		return fmt.Errorf("augment: crop scale %v must lie in (0, 1] with lo <= hi", a.CropScale)
	}
	if a.CropRatio != [2]float64{} && (a.CropRatio[0] <= 0 || a.CropRatio[1] < a.CropRatio[0]) {
		return fmt.Errorf("augment: bad crop ratio %v", a.CropRatio)
	}
	for _, p := range []struct {
		name     string
		v, limit float64
	}{{"background", a.Background, 1}, {"hue", a.Hue, 0.5}, {"greyscale", a.Greyscale, 1}, {"illumination", a.Illumination, 1}, {"blur", a.Blur, 1}, {"jpeg", a.JPEG, 1}} {
		if !(p.v >= 0 && p.v <= p.limit) {
			return fmt.Errorf("augment: %s %g outside [0, %g]", p.name, p.v, p.limit)
		}
	}
	if a.Contrast < 0 || a.Contrast >= 1 || a.Saturation < 0 || a.Saturation > 1 || a.Erasing < 0 || a.Erasing > 1 {
		return fmt.Errorf("augment: contrast in [0, 1), saturation and erasing in [0, 1]: %+v", *a)
	}
	return nil
}

// Transform is one drawn set of parameters (Keras' transform_parameters).
type Transform struct {
	Theta, Tx, Ty, Shear, Zx, Zy float64
	FlipH, FlipV                 bool
	Brightness                   float64
	// Contrast and Saturation factors (0 or 1: unchanged).
	Contrast   float64 `json:",omitzero"`
	Saturation float64 `json:",omitzero"`
	// Erase, when EraseH > 0, is the rectangle filled with noise drawn from EraseSeed.
	EraseR, EraseC, EraseH, EraseW int
	EraseSeed                      uint64
	// BgKind, when not zero, is the kind of background the item is put
	// on, drawn with its shadow from BgSeed (see Augment.Background).
	BgKind int    `json:",omitzero"`
	BgSeed uint64 `json:",omitzero"`
	// Hue is the hue turn (a fraction of a full turn), Grey a grey image,
	// IllumGain and IllumAngle the illumination ramp, BlurSigma the blur,
	// JPEGQuality the re-compression (zero: each off).
	Hue         float64 `json:",omitzero"`
	Grey        bool    `json:",omitzero"`
	IllumGain   float64 `json:",omitzero"`
	IllumAngle  float64 `json:",omitzero"`
	BlurSigma   float64 `json:",omitzero"`
	JPEGQuality int     `json:",omitzero"`
}

// Random draws a transform for an h x w image, in Keras' order.
func (a *Augment) Random(r *rand.Rand, h, w int) Transform {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	t := Transform{Zx: 1, Zy: 1, Brightness: 1}
	if a.RotationRange > 0 {
		t.Theta = u(-a.RotationRange, a.RotationRange)
	}
	if a.HeightShiftRange > 0 {
		t.Tx = u(-a.HeightShiftRange, a.HeightShiftRange)
		if a.HeightShiftRange < 1 {
			t.Tx *= float64(h)
		}
	}
	if a.WidthShiftRange > 0 {
		t.Ty = u(-a.WidthShiftRange, a.WidthShiftRange)
		if a.WidthShiftRange < 1 {
			t.Ty *= float64(w)
		}
	}
	if a.ShearRange > 0 {
		t.Shear = u(-a.ShearRange, a.ShearRange)
	}
	if a.ZoomRange > 0 {
		t.Zx = u(1-a.ZoomRange, 1+a.ZoomRange)
		t.Zy = u(1-a.ZoomRange, 1+a.ZoomRange)
	}
	t.FlipH = a.HorizontalFlip && r.Float64() < 0.5
	t.FlipV = a.VerticalFlip && r.Float64() < 0.5
	if a.BrightnessRange != [2]float64{} {
		t.Brightness = u(a.BrightnessRange[0], a.BrightnessRange[1])
	}
	// Draws for the options below come after Keras' own, so that runs
	// without them see exactly the same transforms as before.
	if a.CropScale != [2]float64{} {
		// Output (0, 0) samples the crop's corner: in = o + T + Z(out - o)
		// with Keras' centre o = size/2 + 0.5.
		ch, cw, cr, cc := a.randomCrop(r, h, w)
		zr, zc := ch/float64(h), cw/float64(w)
		t.Zx *= zr
		t.Zy *= zc
		t.Tx += cr - (float64(h)/2+0.5)*(1-zr)
		t.Ty += cc - (float64(w)/2+0.5)*(1-zc)
	}
	if a.Contrast > 0 {
		t.Contrast = u(1-a.Contrast, 1+a.Contrast)
	}
	if a.Saturation > 0 {
		t.Saturation = u(1-a.Saturation, 1+a.Saturation)
	}
	if a.Erasing > 0 && r.Float64() < a.Erasing {
		for try := 0; try < 10; try++ {
			area := u(0.02, 1.0/3) * float64(h*w)
			ratio := math.Exp(u(math.Log(0.3), math.Log(3.3)))
			eh, ew := int(math.Round(math.Sqrt(area*ratio))), int(math.Round(math.Sqrt(area/ratio)))
			if eh < 1 || ew < 1 || eh >= h || ew >= w {
				continue
			}
			t.EraseH, t.EraseW = eh, ew
			t.EraseR, t.EraseC = r.IntN(h-eh+1), r.IntN(w-ew+1)
			t.EraseSeed = r.Uint64()
			break
		}
	}
	photos := 0
	if a.Backgrounds != "" {
		photos = 1
	}
	a.drawRobust(r, &t, photos)
	return t
}

// randomCrop draws a crop (height, width, top, left) as torchvision's
// RandomResizedCrop.get_params does: ten tries at a scale and log-uniform
// ratio that fit, else the largest centred crop within the ratio bounds.
func (a *Augment) randomCrop(r *rand.Rand, h, w int) (ch, cw, top, left float64) {
	lo, hi := a.CropRatio[0], a.CropRatio[1]
	if a.CropRatio == [2]float64{} {
		lo, hi = 3.0/4, 4.0/3
	}
	H, W := float64(h), float64(w)
	for try := 0; try < 10; try++ {
		s := a.CropScale[0] + (a.CropScale[1]-a.CropScale[0])*r.Float64()
		ratio := math.Exp(math.Log(lo) + (math.Log(hi)-math.Log(lo))*r.Float64())
		cw, ch := math.Sqrt(s*H*W*ratio), math.Sqrt(s*H*W/ratio)
		if cw <= W && ch <= H {
			return ch, cw, (H - ch) * r.Float64(), (W - cw) * r.Float64()
		}
	}
	ratio := W / H
	switch {
	case ratio < lo:
		cw, ch = W, W/lo
	case ratio > hi:
		ch, cw = H, H*hi
	default:
		ch, cw = H, W
	}
	return ch, cw, (H - ch) / 2, (W - cw) / 2
}

type mat3 [3][3]float64

func (a mat3) mul(b mat3) mat3 {
	var c mat3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

var identity = mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}

// Matrix is Keras' transform matrix for an h x w image: it maps an output
// (row, col, 1) to the input point sampled there. The second result is false
// for the identity.
func (t Transform) Matrix(h, w int) (mat3, bool) {
	m, any := identity, false
	if t.Theta != 0 {
		th := t.Theta * math.Pi / 180
		m = m.mul(mat3{{math.Cos(th), -math.Sin(th), 0}, {math.Sin(th), math.Cos(th), 0}, {0, 0, 1}})
		any = true
	}
	if t.Tx != 0 || t.Ty != 0 {
		m = m.mul(mat3{{1, 0, t.Tx}, {0, 1, t.Ty}, {0, 0, 1}})
		any = true
	}
	if t.Shear != 0 {
		s := t.Shear * math.Pi / 180
		m = m.mul(mat3{{1, -math.Sin(s), 0}, {0, math.Cos(s), 0}, {0, 0, 1}})
		any = true
	}
	if t.Zx != 1 || t.Zy != 1 {
		m = m.mul(mat3{{t.Zx, 0, 0}, {0, t.Zy, 0}, {0, 0, 1}})
		any = true
	}
	if !any {
		return identity, false
	}
	ox, oy := float64(h)/2+0.5, float64(w)/2+0.5
	return mat3{{1, 0, ox}, {0, 1, oy}, {0, 0, 1}}.mul(m).mul(mat3{{1, 0, -ox}, {0, 1, -oy}, {0, 0, 1}}), true
}

// Apply renders src under t into dst as float32 HWC values in [0, 255]:
// the affine warp (bilinear, like scipy's order=1), then flips, then
// brightness, in Keras' order; then contrast and saturation, the
// robustness options (hue, greyscale, illumination, blur, JPEG) and
// erasing. The background (BgKind) is composited before, by the Loader,
// which has the other photos it needs.
func (t Transform) Apply(src *RGB, dst []float32, fill string, cval float64) {
	h, w := src.H, src.W
	m, warp := t.Matrix(h, w)
	nearest := fill == "nearest" || fill == ""
	for r := 0; r < h; r++ {
		for c := 0; c < w; c++ {
			o := 3 * (r*w + c)
			if !warp {
				for k := 0; k < 3; k++ {
					dst[o+k] = float32(src.Pix[o+k])
				}
				continue
			}
			ir := m[0][0]*float64(r) + m[0][1]*float64(c) + m[0][2]
			ic := m[1][0]*float64(r) + m[1][1]*float64(c) + m[1][2]
			if nearest {
				sampleNearest(src, ir, ic, dst[o:o+3])
			} else {
				sample(src, ir, ic, fill, cval, dst[o:o+3])
			}
		}
	}
	if t.FlipH {
		for r := 0; r < h; r++ {
			for c := 0; c < w/2; c++ {
				a, b := 3*(r*w+c), 3*(r*w+w-1-c)
				for k := 0; k < 3; k++ {
					dst[a+k], dst[b+k] = dst[b+k], dst[a+k]
				}
			}
		}
	}
	if t.FlipV {
		for r := 0; r < h/2; r++ {
			a, b := 3*r*w, 3*(h-1-r)*w
			for k := 0; k < 3*w; k++ {
				dst[a+k], dst[b+k] = dst[b+k], dst[a+k]
			}
		}
	}
	if t.Brightness != 1 {
		for i, v := range dst[:3*h*w] {
			dst[i] = min(max(v*float32(t.Brightness), 0), 255)
		}
	}
	t.colour(dst[:3*h*w])
	t.robust(dst[:3*h*w], w, h)
	if t.EraseH > 0 {
		r := rand.New(rand.NewPCG(t.EraseSeed, 0x65726173))
		for y := t.EraseR; y < t.EraseR+t.EraseH; y++ {
			for x := t.EraseC; x < t.EraseC+t.EraseW; x++ {
				o := 3 * (y*w + x)
				for k := 0; k < 3; k++ {
					dst[o+k] = float32(r.IntN(256))
				}
			}
		}
	}
}

// grey is ITU-R 601 luma, as torchvision's rgb_to_grayscale.
func grey(p []float32) float32 { return 0.299*p[0] + 0.587*p[1] + 0.114*p[2] }

// colour applies the contrast and saturation factors to HWC pixels in [0, 255].
func (t Transform) colour(px []float32) {
	if t.Contrast != 0 && t.Contrast != 1 {
		var sum float64
		for i := 0; i < len(px); i += 3 {
			sum += float64(grey(px[i : i+3]))
		}
		mean, c := float32(sum/float64(len(px)/3)), float32(t.Contrast)
		for i, v := range px {
			px[i] = min(max(mean+c*(v-mean), 0), 255)
		}
	}
	if t.Saturation != 0 && t.Saturation != 1 {
		s := float32(t.Saturation)
		for i := 0; i < len(px); i += 3 {
			g := grey(px[i : i+3])
			for k := 0; k < 3; k++ {
				px[i+k] = min(max(g+s*(px[i+k]-g), 0), 255)
			}
		}
	}
}

// index maps a coordinate outside [0, n) according to the fill mode; ok is
// false when the constant should be used.
func index(i, n int, fill string) (int, bool) {
	if i >= 0 && i < n {
		return i, true
	}
	switch fill {
	case "constant":
		return 0, false
	case "reflect": // half-sample symmetric: d c b a | a b c d | d c b a
		p := 2 * n
		i = ((i % p) + p) % p
		if i >= n {
			i = p - 1 - i
		}
		return i, true
	case "wrap":
		return ((i % n) + n) % n, true
	default: // nearest
		return min(max(i, 0), n-1), true
	}
}

// sampleNearest is sample with the "nearest" fill, the default, without
// its per-tap fill dispatch. It gives the same bits: a tap that sample
// skips has weight 0 and adds an exact +0 here.
func sampleNearest(src *RGB, r, c float64, out []float32) {
	r = min(max(r, 0), float64(src.H-1))
	c = min(max(c, 0), float64(src.W-1))
	r0, c0 := int(math.Floor(r)), int(math.Floor(c))
	fr, fc := r-float64(r0), c-float64(c0)
	r1, c1 := min(r0+1, src.H-1), min(c0+1, src.W-1)
	w00, w01, w10, w11 := (1-fr)*(1-fc), (1-fr)*fc, fr*(1-fc), fr*fc
	p00, p01 := src.Pix[3*(r0*src.W+c0):], src.Pix[3*(r0*src.W+c1):]
	p10, p11 := src.Pix[3*(r1*src.W+c0):], src.Pix[3*(r1*src.W+c1):]
	for k := 0; k < 3; k++ {
		acc := 0.0
		acc += w00 * float64(p00[k])
		acc += w01 * float64(p01[k])
		acc += w10 * float64(p10[k])
		acc += w11 * float64(p11[k])
		out[k] = float32(acc)
	}
}

func sample(src *RGB, r, c float64, fill string, cval float64, out []float32) {
	if fill == "nearest" || fill == "" {
		r = min(max(r, 0), float64(src.H-1))
		c = min(max(c, 0), float64(src.W-1))
	}
	r0, c0 := int(math.Floor(r)), int(math.Floor(c))
	fr, fc := r-float64(r0), c-float64(c0)
	var acc [3]float64
	for dr := 0; dr < 2; dr++ {
		for dc := 0; dc < 2; dc++ {
			wgt := (1 - fr) * (1 - fc)
			switch {
			case dr == 0 && dc == 1:
				wgt = (1 - fr) * fc
			case dr == 1 && dc == 0:
				wgt = fr * (1 - fc)
			case dr == 1 && dc == 1:
				wgt = fr * fc
			}
			if wgt == 0 {
				continue
			}
			ri, ok1 := index(r0+dr, src.H, fill)
			ci, ok2 := index(c0+dc, src.W, fill)
			for k := 0; k < 3; k++ {
				v := cval
				if ok1 && ok2 {
					v = float64(src.Pix[3*(ri*src.W+ci)+k])
				}
				acc[k] += wgt * v
			}
		}
	}
	for k := 0; k < 3; k++ {
		out[k] = float32(acc[k])
	}
}
