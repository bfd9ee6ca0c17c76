package explain

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
	"trashsort/tensor"
	"trashsort/train"
)

// quadrantImage is gray noise with the class's evidence, a red or a blue
// disk, somewhere in the top-left quadrant.
func quadrantImage(r *rand.Rand, size, class int) *data.RGB {
	img := &data.RGB{W: size, H: size, Pix: make([]byte, 3*size*size)}
	for i := 0; i < size*size; i++ {
		v := byte(100 + r.IntN(56))
		img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2] = v, v, v
	}
	half := size / 2
	rad := float64(half) * (0.25 + 0.15*r.Float64())
	cx := rad + r.Float64()*(float64(half)-2*rad)
	cy := rad + r.Float64()*(float64(half)-2*rad)
	col := [2][3]byte{{220, 30, 30}, {30, 60, 220}}[class]
	for y := 0; y < half; y++ {
		for x := 0; x < half; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			if dx*dx+dy*dy <= rad*rad {
				copy(img.Pix[3*(y*size+x):], col[:])
			}
		}
	}
	return img
}

func writeQuadrantSet(t *testing.T, root string, perClass int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 9))
	for c, name := range []string{"blue", "red"} {
		dir := filepath.Join(root, name)
		os.MkdirAll(dir, 0o755)
		for i := 0; i < perClass; i++ {
			var b bytes.Buffer
			quadrantImage(r, 128, 1-c).Encode(&b, 95)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.jpg", i)), b.Bytes(), 0o644)
		}
	}
}

// TestGradCAMFindsTheEvidenceQuadrant trains MobileNetV2 0.35 on images
// whose class evidence lies in the top-left quadrant; the heat map's mass
// must lie mostly there.
func TestGradCAMFindsTheEvidenceQuadrant(t *testing.T) {
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	root := t.TempDir()
	writeQuadrantSet(t, filepath.Join(root, "train"), 16, 1)
	writeQuadrantSet(t, filepath.Join(root, "val"), 6, 2)
	tr, va, err := data.FromSplitFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{Backbone: "mobilenet_v2_035", Size: 128, Batch: 8, Head: classifier.Head{Units: 64},
		Epochs1: 6, LR1: 1e-3, CacheFeatures: 0, Seed: 1}
	res, err := train.Fit(context.Background(), cfg, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	clf := res.Classifier
	if res.Best.ValAcc < 0.9 {
		t.Fatalf("the model did not learn the task: val accuracy %.2f", res.Best.ValAcc)
	}
	r := rand.New(rand.NewPCG(7, 7))
	n := 8
	x := tensor.New(n, 128, 128, 3)
	var imgs []*data.RGB
	for i := 0; i < n; i++ {
		img := quadrantImage(r, 128, i%2)
		imgs = append(imgs, img)
		for j, v := range img.Pix {
			x.Data[i*128*128*3+j] = float32(v)
		}
	}
	maps, err := GradCAM(clf, x, -1)
	if err != nil {
		t.Fatal(err)
	}
	var share float64
	for i, h := range maps {
		var in, all float32
		peakIn := false
		for y := 0; y < h.H; y++ {
			for xx := 0; xx < h.W; xx++ {
				v := h.At(xx, y)
				all += v
				if xx < h.W/2 && y < h.H/2 {
					in += v
					peakIn = peakIn || v == 1
				}
			}
		}
		if !peakIn {
			t.Errorf("image %d: the heat map's peak lies outside the evidence quadrant: %v", i, h.V)
		}
		if all == 0 {
			t.Errorf("image %d: empty heat map", i)
			continue
		}
		share += float64(in / all)
	}
	share /= float64(n)
	t.Logf("val accuracy %.2f; heat-map mass in the evidence quadrant: %.1f%% (a quarter of the area)", res.Best.ValAcc, 100*share)
	// The 4x4 grid's cells see beyond their quadrant, so the share of a
	// well-placed map is about half; a map that ignored position would give 25%.
	if share < 0.4 {
		t.Errorf("only %.1f%% of the heat map lies in the evidence quadrant, want >= 40%%", 100*share)
	}
	// Explaining a fixed class works too, and the overlay is a valid PNG.
	if _, err := GradCAM(clf, x, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := GradCAM(clf, x, 5); err == nil {
		t.Error("class 5 of 2 accepted")
	}
	b, err := OverlayPNG(imgs[0], &maps[0])
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(bytes.NewReader(b))
	if err != nil || im.Bounds().Dx() != 128 {
		t.Errorf("overlay: %v %v", err, im.Bounds())
	}
	if d := os.Getenv("TRASHSORT_SCREENSHOT_DIR"); d != "" {
		WriteOverlay(filepath.Join(d, "gradcam-quadrant.png"), imgs[0], &maps[0])
	}
}
