package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/tensor"
)

// softmax of the row in place, in float64.
func softmax64(z []float64) []float64 {
	hi := math.Inf(-1)
	for _, v := range z {
		hi = max(hi, v)
	}
	var s float64
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = math.Exp(v - hi)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// The imprinted head, run as Dense(relu) then Dense, gives the softmax of
// −scale·‖f − m_c‖² for features at or above the floor, and a class
// without photos probability zero.
func TestImprintWeightsIsNearestMean(t *testing.T) {
	for _, tc := range []struct {
		name  string
		floor float64
		nil2  bool
	}{
		{"relu features", 0, false},
		{"features below zero", -0.28, false},
		{"a class without photos", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const dim, units, k, scale = 7, 5, 3, 0.8
			r := rand.New(rand.NewPCG(1, 2))
			feat := func() []float32 {
				f := make([]float32, dim)
				for i := range f {
					f[i] = float32(tc.floor + r.Float64()*(1.5-tc.floor))
				}
				return f
			}
			means := [][]float32{feat(), feat(), feat()}
			if tc.nil2 {
				means[2] = nil
			}
			h, err := ImprintWeights(means, dim, units, tc.floor, scale)
			if err != nil {
				t.Fatal(err)
			}
			for trial := 0; trial < 20; trial++ {
				f := feat()
				hid := make([]float64, units)
				for u := range hid {
					s := float64(h.DenseBias[u])
					for i, v := range f {
						s += float64(v) * float64(h.Dense[i*units+u])
					}
					hid[u] = max(s, 0)
				}
				logits := make([]float64, k)
				for c := range logits {
					s := float64(h.OutBias[c])
					for u, v := range hid {
						s += v * float64(h.Out[u*k+c])
					}
					logits[c] = s
				}
				want := make([]float64, k)
				for c, m := range means {
					if m == nil {
						want[c] = math.Inf(-1)
						continue
					}
					var d float64
					for i := range f {
						e := float64(f[i]) - float64(m[i])
						d += e * e
					}
					want[c] = -scale * d
				}
				got, exp := softmax64(logits), softmax64(want)
				for c := range got {
					if math.Abs(got[c]-exp[c]) > 1e-4 {
						t.Fatalf("trial %d: probabilities %v, want %v", trial, got, exp)
					}
				}
			}
		})
	}
}

func TestImprintWeightsRefuses(t *testing.T) {
	m := []float32{1, 2}
	for _, tc := range []struct {
		name         string
		means        [][]float32
		units        int
		floor, scale float64
	}{
		{"one class", [][]float32{m}, 4, 0, 1},
		{"one class with photos", [][]float32{m, nil}, 4, 0, 1},
		{"fewer units than classes", [][]float32{m, m, m}, 2, 0, 1},
		{"zero scale", [][]float32{m, m}, 4, 0, 0},
		{"NaN scale", [][]float32{m, m}, 4, 0, math.NaN()},
		{"positive floor", [][]float32{m, m}, 4, 1, 1},
		{"short mean", [][]float32{m, {1}}, 4, 0, 1},
		{"non-finite mean", [][]float32{m, {1, float32(math.Inf(1))}}, 4, 0, 1},
	} {
		if _, err := ImprintWeights(tc.means, 2, tc.units, tc.floor, tc.scale); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// Leaving a photo out moves its own class's mean and only that one.
func TestLeaveOneOutDistances(t *testing.T) {
	p := pooledSet{dim: 1, x: []float32{0, 2, 10, 12, 11}, labels: []int{0, 0, 1, 1, 1}, photo: []int{0, 1, 2, 3, 3}}
	means, counts, floor := p.classMeans(2)
	if means[0][0] != 1 || means[1][0] != 11 || counts[1] != 3 || floor != 0 {
		t.Fatalf("means %v counts %v floor %g", means, counts, floor)
	}
	d := p.leaveOneOutDistances(means, counts)
	got := map[[2]int]float64{}
	for i := range p.labels {
		for c := 0; c < 2; c++ {
			got[[2]int{i, c}] = d[i*2+c]
		}
	}
	exp := map[[2]int]float64{
		{0, 0}: 4, {0, 1}: 121,
		{1, 0}: 4, {1, 1}: 81,
		{2, 0}: 81, {2, 1}: 2.25,
		{3, 0}: 121, {3, 1}: 4,
		{4, 0}: 100, {4, 1}: 1,
	}
	for key, v := range exp {
		if math.Abs(got[key]-v) > 1e-9 {
			t.Errorf("vector %d, class %d: %g, want %g", key[0], key[1], got[key], v)
		}
	}
}

// Fit with Imprint and no epochs predicts the nearest class mean of the
// pooled features of the photos it was given.
func TestImprintFit(t *testing.T) {
	tr, _, w := subsets(t, 5, 3)
	dir := t.TempDir()
	cfg := smallConfig(dir)
	cfg.Size, cfg.Epochs1, cfg.Epochs2, cfg.CacheFeatures, cfg.Augment = 64, 0, 0, 0, nil
	cfg.Imprint, cfg.FinalFit, cfg.LogDir = true, true, ""
	cfg.Out = filepath.Join(dir, "imprinted.safetensors")
	res, err := Fit(context.Background(), cfg, tr, tr, w)
	if err != nil {
		t.Fatal(err)
	}
	clf, err := classifier.Load(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := clf.SourceFeatureStats(); !ok || clf.Meta.SourceFeatures.Split != "train" || clf.Meta.SourceFeatures.Images != len(tr.Items) {
		t.Fatalf("source feature statistics %+v, want the %d training photos'", clf.Meta.SourceFeatures, len(tr.Items))
	}
	if clf.Meta.Calibration == nil || !(clf.Meta.Calibration.Temperature > 0) {
		t.Fatalf("calibration %+v, want one fitted on the leave-one-out predictions", clf.Meta.Calibration)
	}
	l, err := data.NewLoader(tr, data.Config{Size: 64, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	ch, errf := l.Epoch(context.Background(), 0)
	var feats [][]float32
	var labels, preds []int
	for b := range ch {
		out, err := clf.PredictOutputs(classifier.Views{64: b.X})
		if err != nil {
			t.Fatal(err)
		}
		d := out.Features.Shape[1]
		k := out.Probs.Shape[1]
		for i, y := range b.Labels {
			feats = append(feats, out.Features.Data[i*d:(i+1)*d])
			labels = append(labels, y)
			preds = append(preds, tensor.Argmax(out.Probs.Data[i*k:(i+1)*k]))
		}
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	k := len(tr.Classes)
	means := make([][]float64, k)
	n := make([]int, k)
	for i, f := range feats {
		y := labels[i]
		if means[y] == nil {
			means[y] = make([]float64, len(f))
		}
		n[y]++
		for j, v := range f {
			means[y][j] += float64(v)
		}
	}
	agree := 0
	for i, f := range feats {
		best, bestD := -1, math.Inf(1)
		for c, m := range means {
			var d float64
			for j, v := range f {
				e := float64(v) - m[j]/float64(n[c])
				d += e * e
			}
			if d < bestD {
				best, bestD = c, d
			}
		}
		if best == preds[i] {
			agree++
		}
	}
	if agree != len(feats) {
		t.Fatalf("the model agrees with the nearest class mean on %d of %d photos", agree, len(feats))
	}
	if res.Classifier.Meta.Summary.Epochs != 0 {
		t.Fatalf("%d epochs recorded, want none", res.Classifier.Meta.Summary.Epochs)
	}
}
