package models

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

// BenchmarkInceptionV3Forward measures frozen-backbone inference at batch 32.
// Compare with: /usr/bin/python3 ../shared/bench/pytorch_peer.py --mode forward --size 224 --batch 32
func BenchmarkInceptionV3Forward(b *testing.B) {
	for _, size := range []int{224, 299} {
		b.Run(fmt.Sprintf("size=%d/batch=32", size), func(b *testing.B) {
			spec, _ := Get("inception_v3")
			m, err := spec.Build(Options{Size: size})
			if err != nil {
				b.Fatal(err)
			}
			m.InitWeights(1)
			m.SetTrainable(0, len(m.Layers), false)
			r := rand.New(rand.NewPCG(1, 1))
			x := tensor.New(32, size, size, 3)
			for i := range x.Data {
				x.Data[i] = r.Float32()*2 - 1
			}
			if _, err := m.Forward(x, false); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Forward(x, false); err != nil {
					b.Fatal(err)
				}
			}
			ips := float64(32*b.N) / b.Elapsed().Seconds()
			b.ReportMetric(ips, "img/s")
			b.ReportMetric(ips*2*5.713*float64(size*size)/(299*299), "GFLOP/s")
		})
	}
}
