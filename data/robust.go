package data

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"slices"
)

// Kinds of background a composite puts behind the item (Transform.BgKind).
const (
	bgNone     = iota
	bgGradient // a linear gradient between two colours
	bgNoise    // multi-scale value noise between two colours
	bgTexture  // a zoomed crop of another training photo
	bgPhoto    // a crop of a photo from Augment.Backgrounds
	bgTiles    // tiles with grout lines: used only by Shift, never in training
)

// drawRobust draws the settings of the robustness options after every
// other draw, so that runs without them see the transforms they saw before.
func (a *Augment) drawRobust(r *rand.Rand, t *Transform, photos int) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	if a.Background > 0 && r.Float64() < a.Background {
		t.BgKind = bgGradient + r.IntN(3)
		if photos > 0 && r.Float64() < 0.5 {
			t.BgKind = bgPhoto
		}
		t.BgSeed = r.Uint64()
	}
	if a.Hue > 0 {
		t.Hue = u(-a.Hue, a.Hue)
	}
	if a.Greyscale > 0 && r.Float64() < a.Greyscale {
		t.Grey = true
	}
	if a.Illumination > 0 {
		t.IllumGain = u(0, a.Illumination)
		t.IllumAngle = u(0, 2*math.Pi)
	}
	if a.Blur > 0 && r.Float64() < a.Blur {
		t.BlurSigma = u(0.1, 2)
	}
	if a.JPEG > 0 && r.Float64() < a.JPEG {
		t.JPEGQuality = 30 + r.IntN(61)
	}
}

// ItemMask is a soft mask (1: item, 0: board) of a photo taken on a plain
// board, as TrashNet's are: the board's colour is the median of the
// border pixels; a pixel belongs to the item by its distance from that
// colour in chromaticity, or by being brighter or clearly darker than the
// board (a shadow on the board is only a little darker); the mask is then
// closed (dilated, eroded) to fill specular holes and feathered by a box
// blur. Values are in [0, 1], one per pixel.
func ItemMask(img *RGB) []float32 {
	w, h := img.W, img.H
	var border [3][]float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if y > 1 && y < h-2 && x > 1 && x < w-2 {
				continue
			}
			o := 3 * (y*w + x)
			for k := 0; k < 3; k++ {
				border[k] = append(border[k], float64(img.Pix[o+k]))
			}
		}
	}
	var bg [3]float64
	for k := range bg {
		slices.Sort(border[k])
		bg[k] = border[k][len(border[k])/2]
	}
	bgSum := bg[0] + bg[1] + bg[2] + 1
	bgLum := bgSum / 3
	mask := make([]float32, w*h)
	for i := range mask {
		p := img.Pix[3*i : 3*i+3]
		sum := float64(p[0]) + float64(p[1]) + float64(p[2]) + 1
		chroma := 0.0
		for k := 0; k < 3; k++ {
			d := float64(p[k])/sum - bg[k]/bgSum
			chroma += d * d
		}
		score := 3 * 255 * math.Sqrt(chroma) * 1.5
		lum := sum / 3
		score = max(score, lum-bgLum*1.08, bgLum*0.75-lum)
		mask[i] = float32(min(max((score-20)/30, 0), 1))
	}
	mask = minMaxFilter(mask, w, h, 2, true)
	mask = minMaxFilter(mask, w, h, 2, false)
	return boxBlur(mask, w, h, 2)
}

// minMaxFilter is a square dilation (max) or erosion (min) of radius rad.
func minMaxFilter(m []float32, w, h, rad int, dilate bool) []float32 {
	pick := func(a, b float32) float32 {
		if dilate {
			return max(a, b)
		}
		return min(a, b)
	}
	tmp, out := make([]float32, len(m)), make([]float32, len(m))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := m[y*w+x]
			for dx := max(x-rad, 0); dx <= min(x+rad, w-1); dx++ {
				v = pick(v, m[y*w+dx])
			}
			tmp[y*w+x] = v
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := tmp[y*w+x]
			for dy := max(y-rad, 0); dy <= min(y+rad, h-1); dy++ {
				v = pick(v, tmp[dy*w+x])
			}
			out[y*w+x] = v
		}
	}
	return out
}

// boxBlur averages over a (2*rad+1)^2 square, clamped at the edges.
func boxBlur(m []float32, w, h, rad int) []float32 {
	tmp, out := make([]float32, len(m)), make([]float32, len(m))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s, n := float32(0), 0
			for dx := max(x-rad, 0); dx <= min(x+rad, w-1); dx++ {
				s += m[y*w+dx]
				n++
			}
			tmp[y*w+x] = s / float32(n)
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s, n := float32(0), 0
			for dy := max(y-rad, 0); dy <= min(y+rad, h-1); dy++ {
				s += tmp[dy*w+x]
				n++
			}
			out[y*w+x] = s / float32(n)
		}
	}
	return out
}

// randomColour draws a surface colour: any hue, mostly unsaturated, dark to light.
func randomColour(r *rand.Rand) [3]float64 {
	return hsvToRGB(r.Float64(), 0.6*r.Float64(), 0.15+0.8*r.Float64())
}

func hsvToRGB(h, s, v float64) [3]float64 {
	h = (h - math.Floor(h)) * 6
	i := int(h) % 6
	f := h - math.Floor(h)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var c [3]float64
	switch i {
	case 0:
		c = [3]float64{v, t, p}
	case 1:
		c = [3]float64{q, v, p}
	case 2:
		c = [3]float64{p, v, t}
	case 3:
		c = [3]float64{p, q, v}
	case 4:
		c = [3]float64{t, p, v}
	default:
		c = [3]float64{v, p, q}
	}
	for k := range c {
		c[k] *= 255
	}
	return c
}

// background renders a w x h background of the given kind from seed;
// other supplies another photo (a texture) and photo one of the
// background photos.
func background(kind int, seed uint64, w, h int, other func(r *rand.Rand) *RGB, photo func(r *rand.Rand) *RGB) *RGB {
	r := rand.New(rand.NewPCG(seed, 0x6267))
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	c1, c2 := randomColour(r), randomColour(r)
	put := func(i int, t float64, grain float64) {
		for k := 0; k < 3; k++ {
			out.Pix[3*i+k] = uint8(min(max(c1[k]+(c2[k]-c1[k])*t+grain, 0), 255))
		}
	}
	switch kind {
	case bgGradient:
		a := 2 * math.Pi * r.Float64()
		ca, sa := math.Cos(a), math.Sin(a)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				t := 0.5 + ((float64(x)/float64(w)-0.5)*ca+(float64(y)/float64(h)-0.5)*sa)/math.Sqrt2
				put(y*w+x, t, 6*r.NormFloat64())
			}
		}
	case bgNoise:
		n := valueNoise(r, w, h)
		for i, t := range n {
			put(i, t, 4*r.NormFloat64())
		}
	case bgTiles:
		cell := 12 + r.IntN(w/4)
		line := 1 + r.IntN(3)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				t := 0.0
				if x%cell < line || y%cell < line {
					t = 1
				}
				put(y*w+x, t, 5*r.NormFloat64())
			}
		}
	case bgTexture, bgPhoto:
		src := other(r)
		if kind == bgPhoto {
			src = photo(r)
		}
		// A crop of a quarter to three quarters of the side, stretched:
		// texture at another scale than the item.
		f := 0.25 + 0.5*r.Float64()
		cw, ch := max(int(f*float64(src.W)), 2), max(int(f*float64(src.H)), 2)
		x0, y0 := r.IntN(src.W-cw+1), r.IntN(src.H-ch+1)
		crop := &RGB{W: cw, H: ch, Pix: make([]uint8, 3*cw*ch)}
		for y := 0; y < ch; y++ {
			copy(crop.Pix[3*y*cw:3*(y+1)*cw], src.Pix[3*((y0+y)*src.W+x0):3*((y0+y)*src.W+x0+cw)])
		}
		out = Resize(crop, w, h, "bilinear")
	}
	return out
}

// valueNoise is fractal value noise in [0, 1]: random grids of 3, 6, 12
// and 24 cells, bilinearly upsampled, weighted 1/2 per octave.
func valueNoise(r *rand.Rand, w, h int) []float64 {
	out := make([]float64, w*h)
	amp, total := 1.0, 0.0
	for cells := 3; cells <= 24; cells *= 2 {
		g := make([]float64, (cells+1)*(cells+1))
		for i := range g {
			g[i] = r.Float64()
		}
		for y := 0; y < h; y++ {
			fy := float64(y) / float64(h) * float64(cells)
			y0 := int(fy)
			ty := fy - float64(y0)
			for x := 0; x < w; x++ {
				fx := float64(x) / float64(w) * float64(cells)
				x0 := int(fx)
				tx := fx - float64(x0)
				v := g[y0*(cells+1)+x0]*(1-tx)*(1-ty) + g[y0*(cells+1)+x0+1]*tx*(1-ty) +
					g[(y0+1)*(cells+1)+x0]*(1-tx)*ty + g[(y0+1)*(cells+1)+x0+1]*tx*ty
				out[y*w+x] += amp * v
			}
		}
		total += amp
		amp /= 2
	}
	for i := range out {
		out[i] /= total
	}
	return out
}

// Composite puts the item of img (its ItemMask) in front of bg, with a
// soft shadow of strength shadow (0: none) cast towards (dx, dy) pixels.
// A photo whose mask covers under 3% or over 95% of it (a white item on
// the white board, an item filling the frame) is returned unchanged.
func Composite(img, bg *RGB, shadow float64, dx, dy int) *RGB {
	mask := ItemMask(img)
	cover := 0.0
	for _, m := range mask {
		cover += float64(m)
	}
	cover /= float64(len(mask))
	if cover < 0.03 || cover > 0.95 {
		return img
	}
	w, h := img.W, img.H
	var shade []float32
	if shadow > 0 {
		shifted := make([]float32, len(mask))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				sx, sy := x-dx, y-dy
				if sx >= 0 && sx < w && sy >= 0 && sy < h {
					shifted[y*w+x] = mask[sy*w+sx]
				}
			}
		}
		shade = boxBlur(shifted, w, h, max(w/40, 1))
	}
	out := &RGB{W: w, H: h, Pix: make([]uint8, len(img.Pix))}
	for i, m := range mask {
		b := 1.0
		if shade != nil {
			b = 1 - shadow*float64(shade[i])
		}
		for k := 0; k < 3; k++ {
			v := float64(m)*float64(img.Pix[3*i+k]) + (1-float64(m))*b*float64(bg.Pix[3*i+k])
			out.Pix[3*i+k] = uint8(min(max(math.Round(v), 0), 255))
		}
	}
	return out
}

// robust applies, in order, hue rotation, greyscale, the illumination
// gradient, Gaussian blur and JPEG re-compression to HWC pixels in [0, 255].
func (t Transform) robust(px []float32, w, h int) {
	if t.Hue != 0 {
		rotateHue(px, t.Hue)
	}
	if t.Grey {
		for i := 0; i < len(px); i += 3 {
			g := grey(px[i : i+3])
			px[i], px[i+1], px[i+2] = g, g, g
		}
	}
	if t.IllumGain != 0 {
		ca, sa := math.Cos(t.IllumAngle), math.Sin(t.IllumAngle)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				// -1 .. 1 across the image along the direction.
				d := ((float64(x)/float64(max(w-1, 1))-0.5)*ca + (float64(y)/float64(max(h-1, 1))-0.5)*sa) * math.Sqrt2
				f := float32(1 + t.IllumGain*d)
				o := 3 * (y*w + x)
				for k := 0; k < 3; k++ {
					px[o+k] = min(max(px[o+k]*f, 0), 255)
				}
			}
		}
	}
	if t.BlurSigma > 0 {
		gaussianBlur(px, w, h, t.BlurSigma)
	}
	if t.JPEGQuality > 0 {
		jpegRoundTrip(px, w, h, t.JPEGQuality)
	}
}

// rotateHue turns each pixel's hue by frac of a full turn in HSV,
// keeping saturation and value (torchvision's adjust_hue).
func rotateHue(px []float32, frac float64) {
	for i := 0; i < len(px); i += 3 {
		r, g, b := float64(px[i])/255, float64(px[i+1])/255, float64(px[i+2])/255
		hi, lo := max(r, g, b), min(r, g, b)
		if hi == lo {
			continue
		}
		d := hi - lo
		var hue float64
		switch hi {
		case r:
			hue = math.Mod((g-b)/d, 6)
		case g:
			hue = (b-r)/d + 2
		default:
			hue = (r-g)/d + 4
		}
		c := hsvToRGB(hue/6+frac, d/hi, hi)
		px[i], px[i+1], px[i+2] = float32(c[0]), float32(c[1]), float32(c[2])
	}
}

// gaussianBlur convolves each channel with a separable Gaussian of the
// given sigma, truncated at 3 sigma, edges clamped.
func gaussianBlur(px []float32, w, h int, sigma float64) {
	rad := max(int(math.Ceil(3*sigma)), 1)
	k := make([]float32, 2*rad+1)
	sum := float32(0)
	for i := range k {
		d := float64(i - rad)
		k[i] = float32(math.Exp(-d * d / (2 * sigma * sigma)))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float32, len(px))
	convolve1D(px, tmp, w, h, k, 1, 0)
	convolve1D(tmp, px, w, h, k, 0, 1)
}

// convolve1D convolves HWC pixels with kernel k along (dx, dy), one of
// (1, 0) and (0, 1), clamping at the edges.
func convolve1D(src, dst []float32, w, h int, k []float32, dx, dy int) {
	rad := len(k) / 2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				s := float32(0)
				for i, kv := range k {
					xx := min(max(x+(i-rad)*dx, 0), w-1)
					yy := min(max(y+(i-rad)*dy, 0), h-1)
					s += kv * src[3*(yy*w+xx)+c]
				}
				dst[3*(y*w+x)+c] = s
			}
		}
	}
}

// jpegRoundTrip encodes the pixels as a JPEG of the given quality and
// decodes them back: the blocking and ringing of phone and camera uploads.
func jpegRoundTrip(px []float32, w, h, quality int) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		for k := 0; k < 3; k++ {
			img.Pix[4*i+k] = uint8(min(max(math.Round(float64(px[3*i+k])), 0), 255))
		}
		img.Pix[4*i+3] = 255
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return // an in-memory encode of a valid image does not fail
	}
	dec, err := jpeg.Decode(&buf)
	if err != nil {
		return
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b, _ := dec.At(x, y).RGBA()
			o := 3 * (y*w + x)
			px[o], px[o+1], px[o+2] = float32(r>>8), float32(g>>8), float32(b>>8)
		}
	}
}

// Shift renders img as a shifted view for measuring robustness (never a
// training augmentation): the item on a tiled floor, under a colour cast
// and an illumination gradient, seeded by seed so that the same photo
// always gives the same view.
func Shift(img *RGB, seed uint64) *RGB {
	r := rand.New(rand.NewPCG(seed, 0x7368))
	bg := background(bgTiles, r.Uint64(), img.W, img.H, nil, nil)
	out := Composite(img, bg, 0.3+0.3*r.Float64(), img.W/30, img.H/30)
	px := make([]float32, len(out.Pix))
	for i, v := range out.Pix {
		px[i] = float32(v)
	}
	cast := randomColour(r)
	mean := (cast[0] + cast[1] + cast[2]) / 3
	t := Transform{IllumGain: 0.25 + 0.2*r.Float64(), IllumAngle: 2 * math.Pi * r.Float64()}
	dark := 0.6 + 0.3*r.Float64()
	for i := range px {
		f := 1 + 0.3*(cast[i%3]-mean)/max(mean, 1)
		px[i] = float32(min(max(float64(px[i])*f*dark, 0), 255))
	}
	t.robust(px, img.W, img.H)
	res := &RGB{W: img.W, H: img.H, Pix: make([]uint8, len(px))}
	for i, v := range px {
		res.Pix[i] = uint8(min(max(math.Round(float64(v)), 0), 255))
	}
	return res
}
