package evaluate

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
	"trashsort/openset"
)

// An absent class is reported and left out of the macro average.
func TestAbsentClassLeftOutOfMacro(t *testing.T) {
	r := &Report{Confusion: [][]int{{3, 1, 0}, {0, 0, 0}, {1, 0, 4}}, Images: 9}
	r.score([]string{"a", "glass", "c"})
	if strings.Join(r.Absent, ",") != "glass" {
		t.Fatalf("absent %v", r.Absent)
	}
	if want := (3.0/4 + 4.0/5) / 2; math.Abs(r.Macro.Recall-want) > 1e-9 {
		t.Fatalf("macro recall %g, want %g over the two present classes", r.Macro.Recall, want)
	}
}

// writeNoise writes n 40 x 30 JPEGs of uniform noise into dir.
func writeNoise(t *testing.T, dir string, n int) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	r := rand.New(rand.NewPCG(9, 9))
	for k := 0; k < n; k++ {
		img := image.NewRGBA(image.Rect(0, 0, 40, 30))
		for y := 0; y < 30; y++ {
			for x := 0; x < 40; x++ {
				img.Set(x, y, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, "noise"+string(rune('a'+k))+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		jpeg.Encode(f, img, &jpeg.Options{Quality: 90})
		f.Close()
	}
}

// On a small model, a site folder without one class is scored over the
// other, its null-mapped folder becomes the unknown set, and the
// Mahalanobis score fitted on the class folders ranks planted noise
// images below the in-class photos.
func TestSiteWithUnknownPhotos(t *testing.T) {
	classes := []string{"a", "b"}
	fit := t.TempDir()
	testimages.ClassFolders(t, fit, classes, 6)
	site := t.TempDir()
	testimages.ClassFolders(t, site, []string{"a"}, 6)
	writeNoise(t, filepath.Join(site, "junk"), 6)
	c, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 32, Classes: classes, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := data.FromSite(site, classes, data.Mapping{"junk": nil})
	if err != nil {
		t.Fatal(err)
	}
	fitDS, err := data.FromFolder(fit, classes)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), c, s.Known, Options{Batch: 4, Workers: 2, Unknown: s.Unknown, OpenSetFit: fitDS})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Absent, ",") != "b" || r.Images != 6 {
		t.Fatalf("absent %v, %d images", r.Absent, r.Images)
	}
	u := r.Unknown
	if u == nil || u.Images != 6 || u.Known != 6 || len(u.Scores) != 3 {
		t.Fatalf("unknown report %+v", u)
	}
	for _, sc := range u.Scores {
		if sc.Score == openset.Mahalanobis && sc.AUROC < 0.9 {
			t.Fatalf("Mahalanobis AUROC %g: noise not ranked below the class photos", sc.AUROC)
		}
		if math.IsNaN(sc.AUROC) || sc.AUROC < 0 || sc.AUROC > 1 {
			t.Fatalf("%s AUROC %g", sc.Score, sc.AUROC)
		}
	}
}
