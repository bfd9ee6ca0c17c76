package classifier

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"trashsort/tensor"
)

// randomize fills every kernel of c with seeded He-uniform values, so that
// its outputs depend on its input (a fresh model's head answers uniformly).
func randomize(c *Classifier, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for _, l := range c.Model.Layers {
		for _, p := range l.Params() {
			if p.Name != "kernel" && p.Name != "depthwise_kernel" {
				continue
			}
			sh := p.Value.Shape
			fanIn := 1
			for _, d := range sh[:len(sh)-1] {
				fanIn *= d
			}
			if p.Name == "depthwise_kernel" {
				fanIn = sh[0] * sh[1]
			}
			a := math.Sqrt(6 / float64(fanIn))
			for i := range p.Value.Data {
				p.Value.Data[i] = float32((2*r.Float64() - 1) * a)
			}
			p.Touch()
		}
	}
}

// atSize returns a classifier with c's weights built for input size s alone.
func atSize(t *testing.T, c *Classifier, s int) *Classifier {
	t.Helper()
	meta := c.Meta
	meta.Size, meta.TestSizes = s, nil
	d, err := New(meta, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetTensors(d.Model, Tensors(c.Model), "test"); err != nil {
		t.Fatal(err)
	}
	return d
}

// geometricMean is the definition PredictViews follows for several sizes:
// the renormalized geometric mean of the per-size probabilities.
func geometricMean(ps []*tensor.Tensor, k int) []float32 {
	out := make([]float32, len(ps[0].Data))
	for r := 0; r < len(out)/k; r++ {
		z := 0.0
		row := make([]float64, k)
		for j := range row {
			l := 0.0
			for _, p := range ps {
				l += math.Log(float64(p.Data[r*k+j]))
			}
			row[j] = math.Exp(l / float64(len(ps)))
			z += row[j]
		}
		for j := range row {
			out[r*k+j] = float32(row[j] / z)
		}
	}
	return out
}

// TestPredictViewsAveragesTestSizes: with test sizes, the prediction is the
// geometric mean of the same weights run at each size on that size's view,
// and it follows later changes to the weights.
func TestPredictViewsAveragesTestSizes(t *testing.T) {
	classes := []string{"a", "b", "c"}
	c, _ := saveSmall(t, 32, classes, 1, nil)
	c.Meta.TestSizes = []int{32, 48, 64}
	if got := c.InputSizes(); !slices.Equal(got, []int{32, 48, 64}) {
		t.Fatalf("InputSizes %v, want [32 48 64]", got)
	}
	views := Views{32: rawImages(2, 32), 48: rawImages(2, 48), 64: rawImages(2, 64)}
	check := func(what string) {
		t.Helper()
		var ps []*tensor.Tensor
		for _, s := range []int{32, 48, 64} {
			p, err := atSize(t, c, s).PredictRaw(views[s])
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		want := geometricMean(ps, len(classes))
		got, err := c.PredictViews(views)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(float64(got.Data[i]-want[i])) > 1e-5 {
				t.Fatalf("%s: probability %d = %g, want %g", what, i, got.Data[i], want[i])
			}
		}
		if d := math.Abs(float64(ps[0].Data[0] - ps[2].Data[0])); d < 1e-6 {
			t.Fatalf("%s: sizes 32 and 64 agree to %g: the test cannot tell them apart", what, d)
		}
	}
	check("fresh")
	// New weights must reach the models built for the other sizes.
	other, _ := saveSmall(t, 32, classes, 7, nil)
	if err := SetTensors(c.Model, Tensors(other.Model), "test"); err != nil {
		t.Fatal(err)
	}
	check("after new weights")
}

// TestPredictRawResizesMissingViews: given only the training size, the
// other test sizes are resized from it.
func TestPredictRawResizesMissingViews(t *testing.T) {
	c, _ := saveSmall(t, 32, []string{"a", "b"}, 3, nil)
	c.Meta.TestSizes = []int{32, 64}
	x := rawImages(2, 32)
	got, err := c.PredictRaw(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.PredictViews(Views{32: x, 64: resizeBatch(x, 64, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data, want.Data) {
		t.Fatalf("PredictRaw %v, PredictViews with the resized view %v", got.Data, want.Data)
	}
}

// TestTestSizesSavedAndBounded: test sizes survive Save and Load, and bad
// ones are refused when a model is built or loaded.
func TestTestSizesSavedAndBounded(t *testing.T) {
	c, _ := saveSmall(t, 32, []string{"a", "b"}, 1, nil)
	if err := c.SetTestSizes([]int{32, 40}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.TestSizes(), []int{32, 40}) {
		t.Fatalf("loaded test sizes %v, want [32 40]", d.TestSizes())
	}
	for _, tc := range []struct {
		sizes []int
		want  string
	}{
		{[]int{0}, "outside"},
		{[]int{MaxInputSize + 1}, "outside"},
		{[]int{32, 32}, "twice"},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9}, "more than"},
	} {
		if err := c.SetTestSizes(tc.sizes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetTestSizes(%v): %v, want an error with %q", tc.sizes, err, tc.want)
		}
		meta := c.Meta
		meta.TestSizes = tc.sizes
		if _, err := New(meta, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with test sizes %v: %v, want an error with %q", tc.sizes, err, tc.want)
		}
	}
}
