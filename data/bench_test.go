package data

import (
	"context"
	"fmt"
	"testing"

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
