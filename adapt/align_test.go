package adapt

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
)

// outputs runs c over every photo and returns the pooled features and
// probabilities, photo by photo.
func outputs(t *testing.T, c *classifier.Classifier, ds *data.Dataset) (feats, probs [][]float32) {
	t.Helper()
	l, err := data.NewLoader(ds, data.Config{Size: c.Meta.Size, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	ch, errf := l.Epoch(context.Background(), 0)
	for b := range ch {
		out, err := c.PredictOutputs(classifier.Views{c.Meta.Size: b.X})
		if err != nil {
			t.Fatal(err)
		}
		d, k := out.Features.Shape[1], out.Probs.Shape[1]
		for i := range b.Labels {
			feats = append(feats, out.Features.Data[i*d:(i+1)*d])
			probs = append(probs, out.Probs.Data[i*k:(i+1)*k])
		}
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	return feats, probs
}

// head applies the weights of the head to pooled features f.
func head(w map[string][]float32, f []float32, units, k int) []float64 {
	hid := make([]float64, units)
	for u := range hid {
		s := float64(w["dense/bias"][u])
		for i, v := range f {
			s += float64(v) * float64(w["dense/kernel"][i*units+u])
		}
		hid[u] = max(s, 0)
	}
	z := make([]float64, k)
	hi := math.Inf(-1)
	for c := range z {
		s := float64(w["dense_1/bias"][c])
		for u, v := range hid {
			s += v * float64(w["dense_1/kernel"][u*k+c])
		}
		z[c] = s
		hi = max(hi, s)
	}
	var sum float64
	for c := range z {
		z[c] = math.Exp(z[c] - hi)
		sum += z[c]
	}
	for c := range z {
		z[c] /= sum
	}
	return z
}

// Alignment changes the first Dense layer and nothing else, so that the
// adapted model's head on a photo's features equals the original head on
// the features standardized to the site and given the source statistics;
// it is recorded and deterministic.
func TestAlignIsTheStandardizationFoldedIntoTheHead(t *testing.T) {
	ds := photos(t)
	var adapted []map[string][]float32
	for run := 0; run < 2; run++ {
		c := small(t)
		d := 1280 // MobileNetV2's pooled channels
		r := rand.New(rand.NewPCG(3, 4))
		srcMean, srcStd := make([]float32, d), make([]float32, d)
		for i := range srcMean {
			srcMean[i], srcStd[i] = float32(r.Float64()), float32(0.1+r.Float64())
		}
		if err := c.SetSourceFeatures(srcMean, srcStd, classifier.SourceFeatures{Images: 10, Split: "val"}); err != nil {
			t.Fatal(err)
		}
		before := weights(c)
		feats, _ := outputs(t, c, ds)
		res, err := Align(context.Background(), c, ds, nil, Options{Batch: 8, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Photos != 21 || res.Layers != 1 {
			t.Fatalf("result %+v, want 21 photos, 1 layer", res)
		}
		after := weights(c)
		for name, b := range before {
			same := slices.Equal(after[name], b)
			if dense := name == "dense/kernel" || name == "dense/bias"; same == dense {
				t.Fatalf("%s: changed %v; only the first Dense layer may change, and it must", name, !same)
			}
		}
		// The site's statistics, as Align computes them.
		mean, std := make([]float64, d), make([]float64, d)
		for _, f := range feats {
			for j, v := range f {
				mean[j] += float64(v) / float64(len(feats))
			}
		}
		for _, f := range feats {
			for j, v := range f {
				e := float64(v) - mean[j]
				std[j] += e * e / float64(len(feats))
			}
		}
		var ms float64
		for _, s := range srcStd {
			ms += float64(s) / float64(d)
		}
		eps := alignEpsilon * ms
		_, probs := outputs(t, c, ds)
		for p, f := range feats {
			g := make([]float32, d)
			for j, v := range f {
				a := (float64(srcStd[j]) + eps) / (math.Sqrt(std[j]) + eps)
				g[j] = float32((float64(v)-mean[j])*a + float64(srcMean[j]))
			}
			want := head(before, g, 8, 2)
			for k := range want {
				if math.Abs(want[k]-float64(probs[p][k])) > 2e-3 {
					t.Fatalf("photo %d: probabilities %v, want the original head on aligned features %v", p, probs[p], want)
				}
			}
		}
		if a := c.Meta.Adapted; len(a) != 1 || a[0].Method != "align" || a[0].Photos != 21 {
			t.Fatalf("recorded %+v", a)
		}
		adapted = append(adapted, after)
	}
	for name, w := range adapted[0] {
		if !slices.Equal(w, adapted[1][name]) {
			t.Fatalf("%s differs between two runs on the same photos", name)
		}
	}
}

// Without stored statistics Align needs source photos; given them, it
// stores their statistics, and aligning them to themselves changes nothing.
func TestAlignSource(t *testing.T) {
	ds := photos(t)
	c := small(t)
	if _, err := Align(context.Background(), c, ds, nil, Options{}); !errors.Is(err, ErrNoSourceFeatures) {
		t.Fatalf("got %v, want ErrNoSourceFeatures", err)
	}
	before := weights(c)
	if _, err := Align(context.Background(), c, ds, ds, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.SourceFeatureStats(); !ok || c.Meta.SourceFeatures.Images != 21 {
		t.Fatalf("source statistics %+v not stored", c.Meta.SourceFeatures)
	}
	after := weights(c)
	for _, name := range []string{"dense/kernel", "dense/bias"} {
		for i, v := range before[name] {
			if math.Abs(float64(after[name][i]-v)) > 1e-5*(1+math.Abs(float64(v))) {
				t.Fatalf("%s[%d]: %g -> %g after aligning the source to itself", name, i, v, after[name][i])
			}
		}
	}
}
