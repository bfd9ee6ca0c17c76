package adapt

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/nn"
	"trashsort/tensor"
)

// EntropyGrad against central differences of the mean entropy of
// softmax(z), row by row.
func TestEntropyGradIsTheEntropysGradient(t *testing.T) {
	z := [][]float64{{0.3, -1.2, 2.0}, {0, 0, 0}, {5, -3, 0.5}}
	softmax := func(row []float64) []float64 {
		mx := slices.Max(row)
		p := make([]float64, len(row))
		s := 0.0
		for i, v := range row {
			p[i] = math.Exp(v - mx)
			s += p[i]
		}
		for i := range p {
			p[i] /= s
		}
		return p
	}
	meanH := func(z [][]float64) float64 {
		h := 0.0
		for _, row := range z {
			for _, v := range softmax(row) {
				h -= v * math.Log(v)
			}
		}
		return h / float64(len(z))
	}
	probs := tensor.New(len(z), 3)
	for i, row := range z {
		for j, v := range softmax(row) {
			probs.Data[i*3+j] = float32(v)
		}
	}
	g := EntropyGrad(probs)
	const eps = 1e-5
	for i := range z {
		for j := range z[i] {
			z[i][j] += eps
			up := meanH(z)
			z[i][j] -= 2 * eps
			down := meanH(z)
			z[i][j] += eps
			want := (up - down) / (2 * eps)
			if d := float64(g.Data[i*3+j]) - want; math.Abs(d) > 1e-5 {
				t.Errorf("row %d logit %d: gradient %g, want %g", i, j, g.Data[i*3+j], want)
			}
		}
	}
}

// meanEntropy is the mean entropy of c's predictions on the photos.
func meanEntropy(t *testing.T, c *classifier.Classifier, ds *data.Dataset) float64 {
	t.Helper()
	l, err := data.NewLoader(ds, data.Config{Size: c.Meta.Size, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	ch, errf := l.Epoch(context.Background(), 0)
	h, n := 0.0, 0
	for b := range ch {
		p, err := c.Predict(b.X)
		if err != nil {
			t.Fatal(err)
		}
		k := p.Shape[1]
		for i := 0; i < p.Shape[0]; i++ {
			for _, v := range p.Data[i*k : (i+1)*k] {
				if v > 0 {
					h -= float64(v) * math.Log(float64(v))
				}
			}
			n++
		}
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	return h / float64(n)
}

// Entropy changes the BatchNorm statistics, scales and shifts and nothing
// else, lowers the entropy of the predictions on the photos, is recorded,
// and gives the same model twice.
func TestEntropyLearnsOnlyBatchNormAndIsDeterministic(t *testing.T) {
	ds := photos(t)
	var after []map[string]classifier.Tensor
	for run := 0; run < 2; run++ {
		c := small(t)
		before := weights(c)
		// The entropy after AdaBN alone is the mark TENT must beat.
		ref := small(t)
		if _, err := BatchNorm(context.Background(), ref, ds, Options{Batch: 8, Workers: 2}); err != nil {
			t.Fatal(err)
		}
		res, err := Entropy(context.Background(), c, ds, Options{Batch: 8, Workers: 2, Epochs: 5, LR: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		if res.Photos != 21 {
			t.Fatalf("result %+v, want 21 photos", res)
		}
		got := classifier.Tensors(c.Model)
		affine := 0
		for name, b := range before {
			same := slices.Equal(got[name].Data, b)
			layer, weight, _ := strings.Cut(name, "/")
			l, _ := c.Model.Layer(layer)
			_, bn := l.(*nn.BatchNormalization)
			if !same && !bn {
				t.Fatalf("%s changed: only BatchNorm weights may", name)
			}
			if !same && (weight == "gamma" || weight == "beta") {
				affine++
			}
		}
		if affine == 0 {
			t.Fatal("no BatchNorm scale or shift was learned")
		}
		if hb, ha := meanEntropy(t, ref, ds), meanEntropy(t, c, ds); ha >= hb {
			t.Errorf("mean entropy on the photos %.4f after TENT, %.4f after AdaBN alone: want lower", ha, hb)
		}
		if len(c.Meta.Adapted) != 1 || c.Meta.Adapted[0].Method != "tent" {
			t.Fatalf("adaptation record %+v", c.Meta.Adapted)
		}
		after = append(after, got)
	}
	for name, a := range after[0] {
		if !slices.Equal(a.Data, after[1][name].Data) {
			t.Fatalf("%s differs between two adaptations on the same photos", name)
		}
	}
	if _, err := Entropy(context.Background(), small(t), ds, Options{LR: math.NaN()}); err == nil {
		t.Error("a NaN learning rate was accepted")
	}
}
