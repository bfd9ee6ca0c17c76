package data

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
	"trashsort/internal/testimages"

	"trashsort/internal/shared"
)

// BenchmarkPipeline measures decode+resize+augment throughput on TrashNet's
// train split with 2 workers, from the files and from the decoded cache.
func BenchmarkPipeline(b *testing.B) {
	root := shared.Path(b, "trashnet/train")
	d, err := FromFolder(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	d = d.Subset(40) // 240 images per pass
	for _, size := range []int{224, 299} {
		for _, cached := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/cache=%v", size, cached), func(b *testing.B) {
				l, err := NewLoader(d, Config{Size: size, Augment: SeedRecipe(), Shuffle: true, Workers: 2, Cache: cached})
				if err != nil {
					b.Fatal(err)
				}
				if cached {
					if _, err := l.Prepare(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				n := 0
				for i := 0; b.Loop(); i++ {
					ch, errf := l.Epoch(context.Background(), i)
					for bt := range ch {
						n += len(bt.Labels)
					}
					if err := errf(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "img/s")
			})
		}
	}
}

// BenchmarkDecodeLarge measures decoding and resizing to 299 px of images
// near the service's default pixel limit: the work a decode bomb costs.
func BenchmarkDecodeLarge(b *testing.B) {
	var png16 bytes.Buffer
	png.Encode(&png16, image.NewNRGBA64(image.Rect(0, 0, 4000, 4000)))
	var jpg bytes.Buffer
	src := image.NewRGBA(image.Rect(0, 0, 4000, 4000))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	jpeg.Encode(&jpg, src, &jpeg.Options{Quality: 90})
	cases := []struct {
		name string
		b    []byte
	}{
		{"png16-4000", png16.Bytes()},
		{"jpeg-4000", jpg.Bytes()},
		{"progressive-jpeg-4000", testimages.ProgressiveJPEG(4000, 4000)},
	}
	for _, c := range cases {
		b.Run(c.name+"/two-pass", func(b *testing.B) {
			for b.Loop() {
				img, err := DecodeLimited(c.b, 16_000_000)
				if err != nil {
					b.Fatal(err)
				}
				Resize(img, 299, 299, Bilinear)
			}
		})
		b.Run(c.name+"/one-pass", func(b *testing.B) {
			for b.Loop() {
				if _, err := DecodeResized(context.Background(), c.b, 16_000_000, 299, 299, Bilinear); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
