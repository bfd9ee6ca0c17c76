package data

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"time"
	"trashsort/internal/testimages"
)

// writeImage writes a w x h PNG whose pixels are fn(x, y).
func writeImage(t *testing.T, path string, w, h int, fn func(x, y int) color.RGBA) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, fn(x, y))
		}
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func solid(c uint8) func(x, y int) color.RGBA {
	return func(x, y int) color.RGBA { return color.RGBA{c, c, c, 255} }
}

func TestClassDiscovery(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"paper", "cardboard", "trash"} {
		writeImage(t, filepath.Join(root, c, "a.png"), 4, 4, solid(1))
		writeImage(t, filepath.Join(root, c, "sub", "b.PNG"), 4, 4, solid(2))
		os.WriteFile(filepath.Join(root, c, "notes.txt"), []byte("x"), 0o644)
	}
	d, err := FromFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Classes, ",") != "cardboard,paper,trash" {
		t.Errorf("classes %v, want sorted folder names", d.Classes)
	}
	if c := d.Counts(); c[0] != 2 || c[1] != 2 || c[2] != 2 {
		t.Errorf("counts %v", c)
	}
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	if _, err := FromFolder(root, nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty class: got %v", err)
	}
	if _, err := FromFolder(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "no class folders") {
		t.Errorf("empty root: got %v", err)
	}
	if _, err := FromFolder(filepath.Join(root, "missing"), nil); err == nil {
		t.Error("missing root: no error")
	}
}

func TestSplitFile(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "glass", "glass1.jpg"), 4, 4, solid(1))
	writeImage(t, filepath.Join(root, "paper2.jpg"), 4, 4, solid(1))
	list := filepath.Join(root, "split.txt")
	os.WriteFile(list, []byte("glass1.jpg 1\n\npaper2.jpg 2\n"), 0o644)
	d, err := FromSplitFile(root, list, map[int]string{1: "glass", 2: "paper"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Items) != 2 || d.Items[0].Label != 0 || d.Items[1].Label != 1 || !strings.HasSuffix(d.Items[0].Path, "glass/glass1.jpg") {
		t.Errorf("items %+v", d.Items)
	}
	os.WriteFile(list, []byte("glass1.jpg one\n"), 0o644)
	if _, _, err := ParseSplitFile(list); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad label: got %v", err)
	}
}

// ramp is an image whose red channel is the row and green the column, so a
// bilinear warp of it is exact wherever it samples inside the image.
func ramp(h, w int) *RGB {
	img := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for r := 0; r < h; r++ {
		for c := 0; c < w; c++ {
			img.Pix[3*(r*w+c)] = uint8(r)
			img.Pix[3*(r*w+c)+1] = uint8(c)
		}
	}
	return img
}

func TestHorizontalFlip(t *testing.T) {
	img := ramp(5, 7)
	dst := make([]float32, 3*5*7)
	Transform{Zx: 1, Zy: 1, Brightness: 1, FlipH: true}.Apply(img, dst, "nearest", 0)
	for r := 0; r < 5; r++ {
		for c := 0; c < 7; c++ {
			if dst[3*(r*7+c)] != float32(r) || dst[3*(r*7+c)+1] != float32(6-c) {
				t.Fatalf("(%d,%d) = %v", r, c, dst[3*(r*7+c):3*(r*7+c)+2])
			}
		}
	}
}

func TestZoomKeepsCentre(t *testing.T) {
	h, w := 9, 9
	img := ramp(h, w)
	dst := make([]float32, 3*h*w)
	Transform{Zx: 0.5, Zy: 0.5, Brightness: 1}.Apply(img, dst, "nearest", 0)
	// Keras' centre is (h/2+0.5, w/2+0.5) = (5, 5): that pixel maps to itself.
	if dst[3*(5*w+5)] != 5 || dst[3*(5*w+5)+1] != 5 {
		t.Errorf("centre moved: %v", dst[3*(5*w+5):3*(5*w+5)+2])
	}
	// A 2x zoom in halves distances from the centre.
	if dst[3*(7*w+5)] != 6 {
		t.Errorf("row 7 samples row %v, want 6", dst[3*(7*w+5)])
	}
}

func TestShearMatchesKerasMatrix(t *testing.T) {
	h, w := 40, 40
	img := ramp(h, w)
	dst := make([]float32, 3*h*w)
	shear := 20.0
	Transform{Shear: shear, Zx: 1, Zy: 1, Brightness: 1}.Apply(img, dst, "nearest", 0)
	s := shear * math.Pi / 180
	o := float64(h)/2 + 0.5
	// Keras: input = offset @ [[1, -sin s], [0, cos s]] @ reset applied to the output point.
	for _, p := range [][2]int{{20, 20}, {10, 25}, {30, 12}, {25, 30}} {
		r, c := float64(p[0]), float64(p[1])
		wantR := (r - o) - math.Sin(s)*(c-o) + o
		wantC := math.Cos(s)*(c-o) + o
		got := dst[3*(p[0]*w+p[1]) : 3*(p[0]*w+p[1])+2]
		if math.Abs(float64(got[0])-wantR) > 1e-3 || math.Abs(float64(got[1])-wantC) > 1e-3 {
			t.Errorf("output %v samples (%.3f, %.3f), want (%.3f, %.3f)", p, got[0], got[1], wantR, wantC)
		}
	}
}

func TestFillModes(t *testing.T) {
	cases := map[string][]int{"nearest": {0, 0, 0, 1}, "reflect": {1, 0, 0, 1}, "wrap": {3, 4, 0, 1}}
	for mode, want := range cases {
		for k, i := range []int{-2, -1, 0, 1} {
			if got, _ := index(i, 5, mode); got != want[k] {
				t.Errorf("%s: index(%d) = %d, want %d", mode, i, got, want[k])
			}
		}
	}
	if _, ok := index(-1, 5, "constant"); ok {
		t.Error("constant mode should use cval outside")
	}
}

func makeSet(t *testing.T, n int) *Dataset {
	root := t.TempDir()
	for i := 0; i < n; i++ {
		c := []string{"a", "b", "c"}[i%3]
		writeImage(t, filepath.Join(root, c, string(rune('a'+i))+".png"), 20+i, 16, func(x, y int) color.RGBA {
			return color.RGBA{uint8(x * 10), uint8(y * 10), uint8(i * 20), 255}
		})
	}
	d, err := FromFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	d := makeSet(t, 10)
	var ref [][]float32
	for _, workers := range []int{1, 2, 5} {
		l, err := NewLoader(d, Config{Size: 12, Augment: &Augment{ShearRange: 20, ZoomRange: 0.2, HorizontalFlip: true, RotationRange: 10}, BatchSize: 3, Shuffle: true, Seed: 7, Workers: workers, Cache: workers == 2})
		if err != nil {
			t.Fatal(err)
		}
		var got [][]float32
		for epoch := 0; epoch < 2; epoch++ {
			ch, errf := l.Epoch(context.Background(), epoch)
			for b := range ch {
				got = append(got, b.X.Data)
			}
			if err := errf(); err != nil {
				t.Fatal(err)
			}
		}
		if ref == nil {
			ref = got
			continue
		}
		if len(got) != len(ref) {
			t.Fatalf("workers %d: %d batches, want %d", workers, len(got), len(ref))
		}
		for i := range got {
			for k := range got[i] {
				if got[i][k] != ref[i][k] {
					t.Fatalf("workers %d: batch %d differs", workers, i)
				}
			}
		}
	}
	if len(ref) != 8 {
		t.Errorf("%d batches over two epochs, want 8", len(ref))
	}
}

func TestBadFiles(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a", "good.png"), 8, 8, solid(9))
	var good bytes.Buffer
	img := &RGB{W: 8, H: 8, Pix: make([]uint8, 192)}
	img.Encode(&good, 90)
	bad := map[string][]byte{
		"empty.jpg":     nil,
		"text.jpg":      []byte("hello, not an image"),
		"truncated.jpg": good.Bytes()[:len(good.Bytes())/2],
		"bomb.png":      testimages.PNGBomb(),
	}
	reasons := map[string]string{"empty.jpg": "empty", "text.jpg": "not an image", "truncated.jpg": "corrupt or truncated", "bomb.png": "pixel limit"}
	for n, b := range bad {
		os.WriteFile(filepath.Join(root, "a", n), b, 0o644)
	}
	d, err := FromFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]string{}
	l, _ := NewLoader(d, Config{Size: 4, Cache: true, Report: func(p string, err error) { reported[filepath.Base(p)] = err.Error() }})
	n, err := l.Prepare(context.Background())
	if err != nil || n != 4 || l.Len() != 1 {
		t.Fatalf("skipped %d (err %v), %d left; want 4 skipped, 1 left", n, err, l.Len())
	}
	for name, why := range reasons {
		if msg := reported[name]; !strings.Contains(msg, why) || !strings.Contains(msg, name) {
			t.Errorf("%s: reported %q, want the path and %q", name, msg, why)
		}
	}
	l, _ = NewLoader(d, Config{Size: 4, Strict: true})
	if _, err := l.Prepare(context.Background()); err == nil {
		t.Error("strict mode accepted bad files")
	}
}

func TestExifOrientation(t *testing.T) {
	img := &RGB{W: 3, H: 2, Pix: []uint8{1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 0, 0, 6, 0, 0}}
	// Orientation 6: rotate 90 degrees clockwise to display.
	o := orient(img, 6)
	if o.W != 2 || o.H != 3 || o.Pix[0] != 4 || o.Pix[3] != 1 {
		t.Errorf("orientation 6: %dx%d %v", o.W, o.H, o.Pix)
	}
	// A JPEG with an EXIF orientation tag is read upright.
	var b bytes.Buffer
	src := &RGB{W: 16, H: 8, Pix: make([]uint8, 16*8*3)}
	src.Encode(&b, 90)
	jpg := b.Bytes()
	exif := []byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00")
	seg := append([]byte{0xFF, 0xE1, byte((len(exif) + 2) >> 8), byte(len(exif) + 2)}, exif...)
	withExif := append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
	dec, err := Decode(withExif)
	if err != nil {
		t.Fatal(err)
	}
	if dec.W != 8 || dec.H != 16 {
		t.Errorf("decoded %dx%d, want 8x16 after EXIF rotation", dec.W, dec.H)
	}
}

func TestBalancedClassWeights(t *testing.T) {
	d := &Dataset{Classes: []string{"a", "b"}, Items: []Item{{Label: 0}, {Label: 0}, {Label: 0}, {Label: 1}}}
	w := d.BalancedClassWeights()
	if math.Abs(float64(w[0])-4.0/6) > 1e-6 || math.Abs(float64(w[1])-2) > 1e-6 {
		t.Errorf("weights %v", w)
	}
}

func TestSplitFraction(t *testing.T) {
	d := makeSet(t, 10)
	tr, va, err := d.Split(0.3, 1)
	if err != nil || len(tr.Items) != 7 || len(va.Items) != 3 {
		t.Fatalf("split %d/%d %v", len(tr.Items), len(va.Items), err)
	}
	_ = rand.New(rand.NewPCG(1, 1))
}

// TestEpochNeverStalls runs many small batches with many workers, whose
// completion order varies, and expects every batch in order.
func TestEpochNeverStalls(t *testing.T) {
	d := makeSet(t, 12)
	big := &Dataset{Root: d.Root, Classes: d.Classes}
	for i := 0; i < 40; i++ {
		big.Items = append(big.Items, d.Items...)
	}
	l, err := NewLoader(big, Config{Size: 8, BatchSize: 1, Shuffle: true, Workers: 7, Cache: true, Augment: &Augment{RotationRange: 30}})
	if err != nil {
		t.Fatal(err)
	}
	for epoch := 0; epoch < 3; epoch++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ch, errf := l.Epoch(ctx, epoch)
		want := 0
		for b := range ch {
			if b.Index != want {
				t.Fatalf("batch %d arrived as %d", b.Index, want)
			}
			want++
		}
		cancel()
		if err := errf(); err != nil || want != len(big.Items) {
			t.Fatalf("epoch %d: %d of %d batches: %v", epoch, want, len(big.Items), err)
		}
	}
}

func TestFromSplitFolders(t *testing.T) {
	root := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for _, c := range []string{"b", "a"} {
			writeImage(t, filepath.Join(root, split, c, "x.png"), 4, 4, solid(3))
		}
	}
	tr, va, err := FromSplitFolders(root)
	if err != nil || len(tr.Items) != 2 || len(va.Items) != 2 || strings.Join(va.Classes, ",") != "a,b" {
		t.Fatalf("%v %v %v", tr, va, err)
	}
	os.RemoveAll(filepath.Join(root, "val"))
	if _, _, err := FromSplitFolders(root); err == nil {
		t.Error("missing val folder: no error")
	}
}
