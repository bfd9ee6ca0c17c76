package data

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRandomResizedCropBounds checks many drawn crops against
// RandomResizedCrop's definition: the sampled region lies inside the
// image, covers a fraction of it within the scale bounds, and has an
// aspect ratio within the ratio bounds.
func TestRandomResizedCropBounds(t *testing.T) {
	a := &Augment{CropScale: [2]float64{0.35, 1}, CropRatio: [2]float64{0.75, 4.0 / 3}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	const h, w = 224, 224
	for i := 0; i < 2000; i++ {
		tr := a.Random(r, h, w)
		m, _ := tr.Matrix(h, w)
		at := func(row, col float64) (float64, float64) {
			return m[0][0]*row + m[0][1]*col + m[0][2], m[1][0]*row + m[1][1]*col + m[1][2]
		}
		r0, c0 := at(0, 0)
		r1, c1 := at(h, w)
		const eps = 1e-9
		if r0 < -eps || c0 < -eps || r1 > h+eps || c1 > w+eps {
			t.Fatalf("crop %d samples [%g, %g] x [%g, %g], outside the %dx%d image", i, r0, r1, c0, c1, h, w)
		}
		ch, cw := r1-r0, c1-c0
		if s := ch * cw / (h * w); s < 0.35-eps || s > 1+eps {
			t.Fatalf("crop %d covers %.3f of the image, outside [0.35, 1]", i, s)
		}
		if ratio := cw / ch; ratio < 0.75-eps || ratio > 4.0/3+eps {
			t.Fatalf("crop %d has aspect ratio %.3f outside [0.75, 1.333]", i, ratio)
		}
	}
}

func TestCropStretchesRegion(t *testing.T) {
	a := &Augment{CropScale: [2]float64{0.25, 0.25}, CropRatio: [2]float64{1, 1}}
	r := rand.New(rand.NewPCG(1, 1))
	const n = 40
	tr := a.Random(r, n, n)
	img := ramp(n, n)
	dst := make([]float32, 3*n*n)
	tr.Apply(img, dst, "nearest", 0)
	// The crop is 20x20 stretched to 40x40: neighbouring output rows
	// sample rows half a pixel apart.
	if d := dst[3*(2*n)] - dst[0]; math.Abs(float64(d)-1) > 1e-4 {
		t.Errorf("two output rows apart sample %g input rows apart, want 1", d)
	}
}

func TestColourJitter(t *testing.T) {
	px := []float32{10, 200, 30, 250, 20, 90, 0, 0, 0, 128, 128, 128}
	meanGrey := func(p []float32) float64 {
		var s float64
		for i := 0; i < len(p); i += 3 {
			s += float64(grey(p[i : i+3]))
		}
		return s / float64(len(p)/3)
	}
	before := meanGrey(px)
	c := append([]float32(nil), px...)
	Transform{Contrast: 0.5}.colour(c)
	// Contrast 0.5 halves every value's distance from the mean grey.
	for i := range px {
		want := before + 0.5*(float64(px[i])-before)
		if math.Abs(float64(c[i])-want) > 1e-3 {
			t.Fatalf("contrast: value %d = %g, want %g", i, c[i], want)
		}
	}
	s := append([]float32(nil), px...)
	Transform{Saturation: 1e-9}.colour(s) // (almost) no saturation: every pixel its own grey
	for i := 0; i < len(px); i += 3 {
		g := grey(px[i : i+3])
		for k := 0; k < 3; k++ {
			if math.Abs(float64(s[i+k]-g)) > 1e-3 {
				t.Fatalf("saturation 0: pixel %d channel %d = %g, want grey %g", i/3, k, s[i+k], g)
			}
		}
	}
	// A grey pixel keeps its value under any saturation.
	g := []float32{77, 77, 77}
	Transform{Saturation: 1.7}.colour(g)
	if g[0] != 77 || g[1] != 77 || g[2] != 77 {
		t.Errorf("saturation changed a grey pixel: %v", g)
	}
	// Zero factors leave pixels alone (a Transform literal without colour).
	z := append([]float32(nil), px...)
	Transform{}.colour(z)
	for i := range px {
		if z[i] != px[i] {
			t.Fatal("zero-value colour factors changed pixels")
		}
	}
}

func TestRandomErasing(t *testing.T) {
	a := &Augment{Erasing: 1}
	r := rand.New(rand.NewPCG(5, 6))
	const n = 50
	img := ramp(n, n)
	for i := 0; i < 200; i++ {
		tr := a.Random(r, n, n)
		if tr.EraseH == 0 {
			t.Fatalf("draw %d: probability 1 drew no rectangle", i)
		}
		if area := float64(tr.EraseH*tr.EraseW) / (n * n); area < 0.015 || area > 0.35 {
			t.Fatalf("draw %d: erased %.3f of the image, want 2-33%%", i, area)
		}
		if tr.EraseR < 0 || tr.EraseC < 0 || tr.EraseR+tr.EraseH > n || tr.EraseC+tr.EraseW > n {
			t.Fatalf("draw %d: rectangle %+v leaves the image", i, tr)
		}
		dst := make([]float32, 3*n*n)
		tr.Apply(img, dst, "nearest", 0)
		changed := 0
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				in := y >= tr.EraseR && y < tr.EraseR+tr.EraseH && x >= tr.EraseC && x < tr.EraseC+tr.EraseW
				o := 3 * (y*n + x)
				same := dst[o] == float32(img.Pix[o]) && dst[o+1] == float32(img.Pix[o+1])
				if !in && !same {
					t.Fatalf("draw %d: pixel (%d,%d) outside the rectangle changed", i, y, x)
				}
				if in && !same {
					changed++
				}
			}
		}
		if changed < tr.EraseH*tr.EraseW/2 {
			t.Fatalf("draw %d: only %d of %d erased pixels differ", i, changed, tr.EraseH*tr.EraseW)
		}
	}
	// With probability 0.3 about 30% of draws erase.
	r2, erased := rand.New(rand.NewPCG(1, 2)), 0
	for i := 0; i < 2000; i++ {
		if (&Augment{Erasing: 0.3}).Random(r2, n, n).EraseH > 0 {
			erased++
		}
	}
	if erased < 500 || erased > 700 {
		t.Errorf("erasing 0.3 erased %d of 2000 draws", erased)
	}
}

// TestNewOptionsKeepOldDraws: without the new options, a seed draws the
// same Keras transform as before they existed.
func TestNewOptionsKeepOldDraws(t *testing.T) {
	old := &Augment{ShearRange: 0.2, ZoomRange: 0.2, HorizontalFlip: true, RotationRange: 20}
	a := rand.New(rand.NewPCG(9, 9))
	b := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 100; i++ {
		x := old.Random(a, 224, 224)
		withCrop := *old
		withCrop.Contrast = 0.2
		y := withCrop.Random(b, 224, 224)
		if x.Theta != y.Theta || x.Shear != y.Shear || x.Zx != y.Zx || x.FlipH != y.FlipH {
			t.Fatalf("draw %d: Keras parameters changed when colour jitter is on: %+v vs %+v", i, x, y)
		}
		b = rand.New(rand.NewPCG(9, uint64(9+i+1)))
		a = rand.New(rand.NewPCG(9, uint64(9+i+1)))
	}
}

// TestAugmentJSONOmitsUnusedOptions: settings without the newer options
// marshal as they did before those options existed, so identifiers built
// from them (the feature cache's keys) stay the same.
func TestAugmentJSONOmitsUnusedOptions(t *testing.T) {
	b, err := json.Marshal(SeedRecipe())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"RotationRange":0,"WidthShiftRange":0,"HeightShiftRange":0,"ShearRange":0.2,"ZoomRange":0.2,"HorizontalFlip":true,"VerticalFlip":false,"BrightnessRange":[0,0],"FillMode":"","Cval":0}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

// TestSampleNearestMatchesSample: the fast path of the default fill gives
// the generic sampler's exact bits, inside, on and beyond the edges.
func TestSampleNearestMatchesSample(t *testing.T) {
	src := &RGB{W: 7, H: 5, Pix: make([]uint8, 7*5*3)}
	for i := range src.Pix {
		src.Pix[i] = uint8(i*53 + 11)
	}
	r := rand.New(rand.NewPCG(1, 2))
	points := [][2]float64{{0, 0}, {4, 6}, {4, 0}, {0, 6}, {-3, 2}, {2, 9.5}, {3.5, 5.99}, {4.0000001, 2}}
	for i := 0; i < 2000; i++ {
		points = append(points, [2]float64{r.Float64()*9 - 2, r.Float64()*11 - 2})
	}
	for _, p := range points {
		var want, got [3]float32
		sample(src, p[0], p[1], "nearest", 0, want[:])
		sampleNearest(src, p[0], p[1], got[:])
		if got != want {
			t.Fatalf("at (%g, %g): %v, want %v", p[0], p[1], got, want)
		}
	}
}
