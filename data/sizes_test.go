package data

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"trashsort/tensor"
)

// epochData returns every batch's views of one epoch, keyed by size.
func epochData(t *testing.T, l *Loader) (map[int][]float32, []int) {
	t.Helper()
	out := map[int][]float32{}
	var labels []int
	ch, errf := l.Epoch(context.Background(), 0)
	for b := range ch {
		views := b.Views
		if views == nil {
			views = map[int]*tensor.Tensor{l.cfg.Size: b.X}
		}
		for s, x := range views {
			if x.Shape[1] != s || x.Shape[2] != s || x.Shape[0] != len(b.Labels) {
				t.Fatalf("view %d has shape %v for %d images", s, x.Shape, len(b.Labels))
			}
			out[s] = append(out[s], x.Data...)
		}
		if b.Views != nil && b.Views[l.cfg.Size] != b.X {
			t.Fatal("Views at Size is not X")
		}
		labels = append(labels, b.Labels...)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	return out, labels
}

// TestLoaderSizes: with extra sizes, each batch holds the images at every
// size, equal to a loader at that size alone; a bad file is skipped at all
// sizes; augmentation is refused.
func TestLoaderSizes(t *testing.T) {
	d := makeSet(t, 7)
	os.WriteFile(filepath.Join(d.Root, "a", "broken.png"), []byte("not an image"), 0o644)
	d, err := FromFolder(d.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(d, Config{Size: 12, Sizes: []int{20, 12, 16, 20}, BatchSize: 3, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config().Sizes; !slices.Equal(got, []int{20, 16}) {
		t.Fatalf("extra sizes %v, want [20 16] (Size and repeats dropped)", got)
	}
	got, labels := epochData(t, l)
	if len(labels) != 7 {
		t.Fatalf("%d images, want 7 (the broken file skipped)", len(labels))
	}
	for _, s := range []int{12, 16, 20} {
		one, err := NewLoader(d, Config{Size: s, BatchSize: 3, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		want, wantLabels := epochData(t, one)
		if !slices.Equal(got[s], want[s]) || !slices.Equal(labels, wantLabels) {
			t.Errorf("size %d: the multi-size loader's images differ from a loader at that size", s)
		}
	}
	if _, err := NewLoader(d, Config{Size: 12, Sizes: []int{16}, Augment: &Augment{HorizontalFlip: true}}); err == nil {
		t.Error("extra sizes with augmentation were accepted")
	}
}

// TestDecodeResizedSizes: one decode at several sizes equals DecodeResized
// at each.
func TestDecodeResizedSizes(t *testing.T) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImages(64, 48)["rgba"], nil); err != nil {
		t.Fatal(err)
	}
	sizes := []int{30, 17, 64}
	got, err := DecodeResizedSizes(context.Background(), b.Bytes(), 1<<20, sizes, Bilinear)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sizes {
		want, err := DecodeResized(context.Background(), b.Bytes(), 1<<20, s, s, Bilinear)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[i].Pix, want.Pix) {
			t.Errorf("size %d differs from DecodeResized", s)
		}
	}
	if _, err := DecodeResizedSizes(context.Background(), b.Bytes(), 1000, sizes, Bilinear); err == nil {
		t.Error("a 3072-pixel image passed a 1000-pixel limit")
	}
}
