package data

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"trashsort/internal/testimages"
)

// board is a w x w near-white board with a red square of side s in the centre.
func board(w, s int) *RGB {
	img := &RGB{W: w, H: w, Pix: make([]uint8, 3*w*w)}
	lo := (w - s) / 2
	for y := 0; y < w; y++ {
		for x := 0; x < w; x++ {
			o := 3 * (y*w + x)
			if x >= lo && x < lo+s && y >= lo && y < lo+s {
				img.Pix[o], img.Pix[o+1], img.Pix[o+2] = 200, 30, 30
			} else {
				img.Pix[o], img.Pix[o+1], img.Pix[o+2] = 236, 234, 230
			}
		}
	}
	return img
}

func TestItemMaskAndComposite(t *testing.T) {
	img := board(60, 20)
	m := ItemMask(img)
	if m[30*60+30] < 0.99 || m[2*60+2] > 0.01 {
		t.Fatalf("mask %g at the item's centre, %g in a corner", m[30*60+30], m[2*60+2])
	}
	bg := &RGB{W: 60, H: 60, Pix: make([]uint8, 3*60*60)}
	for i := range bg.Pix {
		bg.Pix[i] = 50
	}
	out := Composite(img, bg, 0, 0, 0)
	if p := out.Pix[3*(30*60+30):][:3]; p[0] != 200 || p[1] != 30 {
		t.Fatalf("item pixel %v after compositing, want 200,30,30", p)
	}
	if p := out.Pix[3*(2*60+2):][:3]; p[0] != 50 || p[2] != 50 {
		t.Fatalf("board pixel %v after compositing, want the background 50", p)
	}
	// A shadow darkens the background beside the item, never the item.
	sh := Composite(img, bg, 0.5, 6, 6)
	if sh.Pix[3*(30*60+30)] != 200 {
		t.Fatal("the shadow darkened the item")
	}
	if next := sh.Pix[3*(42*60+42)]; next >= 50 {
		t.Fatalf("background beside the item is %d under a shadow, want darker than 50", next)
	}
	// No item on the board: nothing to composite.
	if blank := board(60, 0); Composite(blank, bg, 0, 0, 0) != blank {
		t.Fatal("a blank board was composited")
	}
}

func TestRotateHueAndGreyscale(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [3]float32
		turn float64
		want [3]float32
	}{
		{"red to green", [3]float32{255, 0, 0}, 1.0 / 3, [3]float32{0, 255, 0}},
		{"green to blue", [3]float32{0, 255, 0}, 1.0 / 3, [3]float32{0, 0, 255}},
		{"red to blue backwards", [3]float32{255, 0, 0}, -1.0 / 3, [3]float32{0, 0, 255}},
		{"grey unchanged", [3]float32{90, 90, 90}, 0.25, [3]float32{90, 90, 90}},
		{"no turn", [3]float32{10, 120, 200}, 0, [3]float32{10, 120, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := tc.in[:]
			px = append([]float32(nil), px...)
			rotateHue(px, tc.turn)
			for k := range px {
				if math.Abs(float64(px[k]-tc.want[k])) > 1e-3 {
					t.Fatalf("got %v, want %v", px, tc.want)
				}
			}
		})
	}
	px := []float32{200, 100, 50}
	Transform{Grey: true}.robust(px, 1, 1)
	want := float32(0.299*200 + 0.587*100 + 0.114*50)
	for _, v := range px {
		if math.Abs(float64(v-want)) > 1e-3 {
			t.Fatalf("grey %v, want %g in every channel", px, want)
		}
	}
}

func TestIllumination(t *testing.T) {
	const w = 5
	px := make([]float32, 3*w*w)
	for i := range px {
		px[i] = 100
	}
	// Angle 0: the ramp runs along x, from 1-g*sqrt2/2 at the left edge to 1+g*sqrt2/2 at the right.
	Transform{IllumGain: 0.2}.robust(px, w, w)
	left, centre, right := px[3*(2*w+0)], px[3*(2*w+2)], px[3*(2*w+4)]
	half := 0.2 * math.Sqrt2 / 2
	if math.Abs(float64(centre)-100) > 1e-4 || math.Abs(float64(left)-100*(1-half)) > 1e-3 || math.Abs(float64(right)-100*(1+half)) > 1e-3 {
		t.Fatalf("left %g centre %g right %g", left, centre, right)
	}
}

func TestGaussianBlur(t *testing.T) {
	const w = 21
	px := make([]float32, 3*w*w)
	for i := range px {
		px[i] = 77
	}
	gaussianBlur(px, w, w, 1.5)
	for _, v := range px {
		if math.Abs(float64(v)-77) > 1e-3 {
			t.Fatalf("a constant image changed to %g", v)
		}
	}
	// An impulse keeps its sum and spreads symmetrically with the Gaussian's shape.
	for i := range px {
		px[i] = 0
	}
	px[3*(10*w+10)] = 1000
	gaussianBlur(px, w, w, 1.5)
	sum := 0.0
	for i := 0; i < len(px); i += 3 {
		sum += float64(px[i])
	}
	if math.Abs(sum-1000) > 0.1 {
		t.Fatalf("impulse sum %g after blurring, want 1000", sum)
	}
	c, n := px[3*(10*w+10)], px[3*(10*w+11)]
	if ratio := float64(n / c); math.Abs(ratio-math.Exp(-1/(2*1.5*1.5))) > 1e-3 {
		t.Fatalf("neighbour/centre %g, want exp(-1/(2 sigma^2))", ratio)
	}
	if px[3*(10*w+9)] != n || px[3*(9*w+10)] != n {
		t.Fatal("blur not symmetric")
	}
}

func TestJPEGRoundTrip(t *testing.T) {
	const w = 16
	px := make([]float32, 3*w*w)
	for i := range px {
		px[i] = float32(40 + (i%3)*60)
	}
	jpegRoundTrip(px, w, w, 90)
	for i, v := range px {
		if math.Abs(float64(v)-float64(40+(i%3)*60)) > 4 {
			t.Fatalf("pixel %d: %g after JPEG at quality 90", i, v)
		}
	}
	// A sharp edge rings at low quality: values move.
	for i := range px {
		px[i] = 0
		if (i/3)%w >= 5 {
			px[i] = 255
		}
	}
	orig := append([]float32(nil), px...)
	jpegRoundTrip(px, w, w, 30)
	moved := false
	for i := range px {
		moved = moved || px[i] != orig[i]
	}
	if !moved {
		t.Fatal("JPEG at quality 30 left a sharp edge untouched")
	}
}

// The robustness options draw after the Keras and timm options, so turning
// them on leaves those parameters as they were.
func TestRobustDrawsComeLast(t *testing.T) {
	base := Augment{ShearRange: 0.2, ZoomRange: 0.2, HorizontalFlip: true, CropScale: [2]float64{0.35, 1}, Contrast: 0.2}
	rob := base
	rob.Background, rob.Hue, rob.Greyscale, rob.Illumination, rob.Blur, rob.JPEG = 1, 0.05, 0.5, 0.3, 0.5, 0.5
	for seed := uint64(0); seed < 20; seed++ {
		a := base.Random(rand.New(rand.NewPCG(seed, 1)), 50, 50)
		b := rob.Random(rand.New(rand.NewPCG(seed, 1)), 50, 50)
		if a.Zx != b.Zx || a.Shear != b.Shear || a.FlipH != b.FlipH || a.Contrast != b.Contrast || a.Tx != b.Tx {
			t.Fatalf("seed %d: Keras parameters moved: %+v vs %+v", seed, a, b)
		}
		if b.BgKind == bgNone || b.Hue == 0 {
			t.Fatalf("seed %d: background %d, hue %g with both on", seed, b.BgKind, b.Hue)
		}
	}
}

func TestRobustValidate(t *testing.T) {
	for _, a := range []Augment{{Hue: 0.6}, {Background: -0.1}, {JPEG: 2}, {Blur: math.NaN()}, {Illumination: 1.5}} {
		if err := a.Validate(); err == nil {
			t.Fatalf("%+v accepted", a)
		}
	}
	if err := (&Augment{Background: 0.8, Hue: 0.5, Greyscale: 1, Illumination: 0.3, Blur: 0.2, JPEG: 0.3}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestShiftIsDeterministic(t *testing.T) {
	img := board(64, 24)
	a, b := Shift(img, 7), Shift(img, 7)
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			t.Fatal("the same photo and seed gave two shifted views")
		}
	}
	if c := Shift(img, 8); string(c.Pix) == string(a.Pix) {
		t.Fatal("two seeds gave the same view")
	}
}

func TestWriteShifted(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	testimages.ClassFolders(t, root, []string{"a", "b"}, 2)
	ds, err := FromFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := WriteShifted(context.Background(), ds, out, 1)
	if err != nil || n != 4 {
		t.Fatalf("wrote %d, %v", n, err)
	}
	back, err := FromFolder(out, []string{"a", "b"})
	if err != nil || len(back.Items) != 4 {
		t.Fatalf("shifted copy: %v, %d items", err, len(back.Items))
	}
}
