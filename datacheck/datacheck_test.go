package datacheck

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/data"
)

// scene draws a textured test picture: smooth waves and a few blobs, all
// from the seed.
func scene(w, h int, seed uint64) *data.RGB {
	r := rand.New(rand.NewPCG(seed, 2))
	fx, fy, ph := 1+5*r.Float64(), 1+5*r.Float64(), 6*r.Float64()
	type blob struct{ x, y, rad float64 }
	var blobs []blob
	for i := 0; i < 4; i++ {
		blobs = append(blobs, blob{r.Float64(), r.Float64(), 0.05 + 0.15*r.Float64()})
	}
	img := &data.RGB{W: w, H: h, Pix: make([]byte, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			u, v := float64(x)/float64(w), float64(y)/float64(h)
			val := 128 + 90*math.Sin(fx*u*6+ph)*math.Cos(fy*v*6)
			for _, b := range blobs {
				if (u-b.x)*(u-b.x)+(v-b.y)*(v-b.y) < b.rad*b.rad {
					val = 255 - val
				}
			}
			i := 3 * (y*w + x)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2] = byte(val), byte(val*0.8), byte(255-val)
		}
	}
	return img
}

func jpegBytes(t *testing.T, img *data.RGB, q int) []byte {
	var b bytes.Buffer
	if err := img.Encode(&b, q); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func write(t *testing.T, root, rel string, b []byte) {
	t.Helper()
	p := filepath.Join(root, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFindsDuplicatesAndLeaks(t *testing.T) {
	root := t.TempDir()
	a := jpegBytes(t, scene(160, 120, 1), 90)
	b := scene(160, 120, 2)
	write(t, root, "train/cans/a.jpg", a)
	write(t, root, "train/cans/b.jpg", jpegBytes(t, b, 90))
	write(t, root, "train/cans/c.jpg", jpegBytes(t, scene(160, 120, 3), 90))
	write(t, root, "train/bottles/d.jpg", jpegBytes(t, scene(160, 120, 4), 90))
	write(t, root, "train/bottles/notes.txt", []byte("not an image name: ignored"))
	// Same bytes under another class in val: leakage and a label conflict.
	write(t, root, "val/bottles/a-copy.jpg", a)
	// b rescaled and recompressed: a near-duplicate in val.
	write(t, root, "val/cans/b-small.jpg", jpegBytes(t, data.Resize(b, 120, 90, data.Bilinear), 60))
	write(t, root, "val/cans/e.jpg", jpegBytes(t, scene(160, 120, 5), 90))
	write(t, root, "val/cans/broken.jpg", a[:len(a)/3])
	r, err := Check(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Splits, ",") != "train,val" || strings.Join(r.Classes, ",") != "bottles,cans" || r.Images != 8 {
		t.Errorf("splits %v classes %v images %d", r.Splits, r.Classes, r.Images)
	}
	if r.Counts["train"]["cans"] != 3 || r.Counts["val"]["cans"] != 3 || r.Counts["val"]["bottles"] != 1 {
		t.Errorf("counts %v", r.Counts)
	}
	if len(r.Unreadable) != 1 || r.Unreadable[0].Path != filepath.Join("val", "cans", "broken.jpg") {
		t.Errorf("unreadable %+v", r.Unreadable)
	}
	if len(r.Exact) != 1 || len(r.Exact[0].Files) != 2 || !r.Exact[0].CrossSplit || !r.Exact[0].CrossClass {
		t.Errorf("exact duplicates %+v", r.Exact)
	}
	if len(r.Near) != 1 || r.Near[0].Files[0].Path != filepath.Join("train", "cans", "b.jpg") || r.Near[0].Files[1].Path != filepath.Join("val", "cans", "b-small.jpg") ||
		!r.Near[0].CrossSplit || r.Near[0].CrossClass || r.Near[0].Distance > DefaultNear {
		t.Errorf("near duplicates %+v", r.Near)
	}
	if r.Leaks["val"] != 2 {
		t.Errorf("leaks %v, want 2 in val", r.Leaks)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	for _, want := range []string{"CROSS-SPLIT, CROSS-CLASS", "unreadable val/cans/broken.jpg", "val 2 of 4"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Error(err)
	}
	// Without near-duplicate search only the exact group remains.
	r, err = Check(context.Background(), root, Options{Near: -1})
	if err != nil || len(r.Near) != 0 || len(r.Exact) != 1 {
		t.Errorf("near off: %v, near %v exact %v", err, r.Near, r.Exact)
	}
}

func TestCheckUnsplitFolder(t *testing.T) {
	root := t.TempDir()
	write(t, root, "x/1.jpg", jpegBytes(t, scene(64, 64, 1), 90))
	write(t, root, "y/2.jpg", jpegBytes(t, scene(64, 64, 2), 90))
	r, err := Check(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Splits) != 1 || r.Splits[0] != "" || r.Images != 2 || len(r.Exact)+len(r.Near) != 0 || len(r.Leaks) != 0 {
		t.Errorf("%+v", r)
	}
	if _, err := Check(context.Background(), filepath.Join(root, "missing"), Options{}); err == nil {
		t.Error("a missing folder: want an error")
	}
}

func TestDistanceSeparatesDifferentScenes(t *testing.T) {
	var hs []Hash
	for s := uint64(1); s <= 12; s++ {
		hs = append(hs, PerceptualHash(scene(96, 96, s)))
	}
	for i := range hs {
		for j := i + 1; j < len(hs); j++ {
			if d := Distance(hs[i], hs[j]); d <= DefaultNear {
				t.Errorf("scenes %d and %d: distance %d", i+1, j+1, d)
			}
		}
	}
	img := scene(200, 150, 7)
	if d := Distance(PerceptualHash(img), PerceptualHash(data.Resize(img, 100, 75, data.Bilinear))); d > DefaultNear {
		t.Errorf("a rescaled copy: distance %d", d)
	}
}

// TestCheckListsCorrectionOrigins: a corrections folder's photos are
// listed with their origin records; a photo without one, a record of a
// removed photo and a cut log line are each reported.
func TestCheckListsCorrectionOrigins(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "glass/a.jpg", jpegBytes(t, scene(40, 30, 1), 90))
	write(t, dir, "metal/b.jpg", jpegBytes(t, scene(40, 30, 2), 90))
	write(t, dir, "metal/by-hand.jpg", jpegBytes(t, scene(40, 30, 3), 90))
	log := `{"file":"glass/a.jpg","label":"glass","answered":"plastic","client":"a1b2c3","time":"2026-12-07T10:00:00Z","model":"m1"}
{"file":"metal/b.jpg","label":"metal","client":"d4e5f6","time":"2026-12-07T10:01:00Z","model":"m1"}
{"file":"paper/gone.jpg","label":"paper","client":"d4e5f6","time":"2026-12-07T10:02:00Z","model":"m1"}
{"file":"metal/cut`
	write(t, dir, data.CorrectionOriginLog, []byte(log))
	r, err := Check(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Corrections
	if c == nil {
		t.Fatal("no corrections section for a folder with an origin log")
	}
	if len(c.Records) != 2 || c.Records[0].Answered != "plastic" || c.Records[1].File != "metal/b.jpg" {
		t.Errorf("records %+v", c.Records)
	}
	if len(c.Unrecorded) != 1 || c.Unrecorded[0] != "metal/by-hand.jpg" {
		t.Errorf("unrecorded %v", c.Unrecorded)
	}
	if len(c.Removed) != 1 || c.Removed[0] != "paper/gone.jpg" {
		t.Errorf("removed %v", c.Removed)
	}
	if len(c.BadLines) != 1 || c.BadLines[0] != 4 {
		t.Errorf("bad lines %v", c.BadLines)
	}
	if r.Images != 3 {
		t.Errorf("%d images: the log is not one", r.Images)
	}
	var b strings.Builder
	r.WriteText(&b)
	for _, want := range []string{"2 with an origin record, 1 without", "no origin record: metal/by-hand.jpg", "record of a removed photo: paper/gone.jpg"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	found := false
	for _, l := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[0] == "glass/a.jpg" {
			found = strings.Join(f, " ") == "glass/a.jpg glass plastic a1b2c3 2026-12-07T10:00:00Z m1"
		}
	}
	if !found {
		t.Errorf("report lacks glass/a.jpg's origin row:\n%s", b.String())
	}
	// A class-folder dataset without a log has no section.
	plain := t.TempDir()
	write(t, plain, "glass/a.jpg", jpegBytes(t, scene(40, 30, 1), 90))
	if r, err := Check(context.Background(), plain, Options{}); err != nil || r.Corrections != nil {
		t.Fatalf("a folder without a log: %+v %v", r.Corrections, err)
	}
}
