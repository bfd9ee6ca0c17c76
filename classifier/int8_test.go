package classifier

import (
	"context"
	"math"
	"testing"

	"trashsort/data"
	"trashsort/dnnl"
	"trashsort/internal/shared"
	"trashsort/models"
	"trashsort/nn"
	"trashsort/tensor"
)

// features returns the backbone's pooled features for every image of ds,
// and their labels (the first limit images, in a shuffled order).
func features(t *testing.T, c *Classifier, ds *data.Dataset, limit int) ([][]float32, []int) {
	t.Helper()
	l, err := data.NewLoader(ds, data.Config{Size: c.Meta.Size, BatchSize: 32, Workers: 2, Shuffle: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	batches, wait := l.Epoch(context.Background(), 0)
	gap := c.Model.Index("global_average_pooling2d")
	var feats [][]float32
	var labels []int
	for b := range batches {
		if len(feats) >= limit {
			continue // drain
		}
		c.Preprocess(b.X.Data)
		out, err := c.Model.Run(map[int]*tensor.Tensor{c.Model.Inputs[0]: b.X}, []int{gap}, false)
		if err != nil {
			t.Fatal(err)
		}
		w := out[0].Shape[1]
		for i := range b.Labels {
			feats = append(feats, append([]float32(nil), out[0].Data[i*w:(i+1)*w]...))
			labels = append(labels, b.Labels[i])
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	return feats, labels
}

func nearest(f []float32, centroids [][]float64) int {
	best, bestD := 0, math.Inf(1)
	for k, c := range centroids {
		d := 0.0
		for i, v := range f {
			d += (float64(v) - c[i]) * (float64(v) - c[i])
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// The int8 backbone must classify val as float32 does: a nearest-centroid
// classifier on MobileNetV2's ImageNet features (centroids from float32
// training features) gives the same top-1 on at least 98% of val images.
func TestInt8AgreesWithFloat32OnVal(t *testing.T) {
	if !dnnl.HasInt8() {
		t.Skip("no int8 kernels for this CPU: int8 runs in float32 here")
	}
	wpath := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	train, val, err := data.FromSplitFolders(shared.Path(t, "trashnet"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Meta{Backbone: "mobilenet_v2_035", Size: 128, Classes: train.Classes, Head: Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.LoadKerasBase(c.Model, wpath, c.BaseEnd); err != nil {
		t.Fatal(err)
	}
	trainF, trainL := features(t, c, train, 384)
	centroids := make([][]float64, len(train.Classes))
	counts := make([]int, len(centroids))
	for i, f := range trainF {
		k := trainL[i]
		if centroids[k] == nil {
			centroids[k] = make([]float64, len(f))
		}
		for j, v := range f {
			centroids[k][j] += float64(v)
		}
		counts[k]++
	}
	for k := range centroids {
		for j := range centroids[k] {
			centroids[k][j] /= float64(max(counts[k], 1))
		}
	}
	valF, valL := features(t, c, val, math.MaxInt)

	// Calibrate on 256 training images, as a stored model would be.
	l, _ := data.NewLoader(train, data.Config{Size: 128, BatchSize: 32, Workers: 2, Shuffle: true, Seed: 3})
	batches, wait := l.Epoch(context.Background(), 0)
	n := 0
	var tuneX *tensor.Tensor
	for b := range batches {
		if n < 256 {
			c.Preprocess(b.X.Data)
			if tuneX == nil {
				tuneX = b.X.Clone()
			}
			if err := c.Model.CalibrateInt8(b.X); err != nil {
				t.Fatal(err)
			}
			n += len(b.Labels)
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Model.TuneInt8(tuneX); err != nil {
		t.Fatal(err)
	}
	ranges := c.Model.Int8Ranges()
	if len(ranges) != 35 { // MobileNetV2's convolutions, each followed by BatchNorm, less the depthwise ones
		t.Errorf("calibrated %d convolutions, want 35", len(ranges))
	}
	inInt8 := 0
	for name, r := range ranges {
		t.Logf("%-24s max %7.3f clip %.2f signed %-5v int8 rel err %.4f", name, r.Max, r.Clip, r.Signed, r.Err)
		if r.Err <= nn.DefaultInt8MaxErr {
			inInt8++
		}
	}
	t.Logf("%d of %d calibrated convolutions run in int8", inInt8, len(ranges))
	c.Model.Int8 = true
	valQ, _ := features(t, c, val, math.MaxInt)
	agree, correctF, correctQ := 0, 0, 0
	var worst float64
	for i := range valF {
		pf, pq := nearest(valF[i], centroids), nearest(valQ[i], centroids)
		if pf == pq {
			agree++
		}
		if pf == valL[i] {
			correctF++
		}
		if pq == valL[i] {
			correctQ++
		}
		worst = max(worst, tensor.RelErr(valQ[i], valF[i]))
	}
	frac := float64(agree) / float64(len(valF))
	t.Logf("int8 vs float32 on %d val images: top-1 agreement %.1f%%, accuracy %.1f%% vs %.1f%%, worst feature rel err %.3f",
		len(valF), 100*frac, 100*float64(correctQ)/float64(len(valF)), 100*float64(correctF)/float64(len(valF)), worst)
	if frac < 0.98 {
		t.Errorf("top-1 agreement %.1f%%, want >= 98%%", 100*frac)
	}
}
