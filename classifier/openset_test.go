package classifier

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/openset"
	"trashsort/safetensors"
)

func fittedGaussian(t *testing.T, c *Classifier) *openset.Gaussian {
	t.Helper()
	d, k := c.featureDim(), len(c.Meta.Classes)
	r := rand.New(rand.NewPCG(1, 1))
	var feats []float32
	var labels []int
	for i := 0; i < 40; i++ {
		for j := 0; j < d; j++ {
			feats = append(feats, float32(r.NormFloat64()+float64(i%k)))
		}
		labels = append(labels, i%k)
	}
	g, err := openset.FitGaussian(feats, labels, k, d, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The detector survives a save and load and answers the same; a file
// whose metadata names a detector it lacks, or whose detector tensors have
// the wrong shape, is refused with its name in the error.
func TestOpenSetRoundTrip(t *testing.T) {
	c := small(t)
	g := fittedGaussian(t, c)
	if err := c.SetOpenSet(g, OpenSet{Threshold: -50, TPR: 0.95}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !back.HasOpenSet() || back.Meta.OpenSet.Threshold != -50 {
		t.Fatalf("loaded detector %+v", back.Meta.OpenSet)
	}
	x := make([]float32, g.Dim)
	for j := range x {
		x[j] = 0.5
	}
	a, ua := c.OpenSetScore(x)
	b, ub := back.OpenSetScore(x)
	if ua != ub || (a-b)/a > 1e-4 || (b-a)/a > 1e-4 {
		t.Fatalf("score %g (%v) before saving, %g (%v) after", a, ua, b, ub)
	}
	// Far from every class mean: unknown, and LabelOpen says so.
	for j := range x {
		x[j] = 100
	}
	if label, _ := back.LabelOpen([]float32{0.9, 0.05, 0.05}, x, 0); label != Unknown {
		t.Fatalf("far-away features labelled %q", label)
	}

	// The metadata names a detector, the file has none.
	meta, err := Metadata(back.Meta)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	writeTensors(t, bad, Tensors(small(t).Model), meta)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "openset/means") || !strings.Contains(err.Error(), bad) {
		t.Fatalf("missing detector tensors: error %v", err)
	}
	// Wrong shapes.
	ts := Tensors(small(t).Model)
	ts["openset/means"] = Tensor{Shape: []int{2, 2}, Data: make([]float32, 4)}
	ts["openset/precision"] = Tensor{Shape: []int{2, 2}, Data: make([]float32, 4)}
	writeTensors(t, bad, ts, meta)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "expected shape") {
		t.Fatalf("misshapen detector tensors: error %v", err)
	}
	if err := c.SetOpenSet(&openset.Gaussian{Dim: 3, Means: make([][]float64, 3)}, OpenSet{}); err == nil {
		t.Fatal("a detector of the wrong feature width was accepted")
	}
}

func writeTensors(t *testing.T, path string, ts map[string]Tensor, meta map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := safetensors.Write(f, ts, meta); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFolderSaysSo(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("error %v", err)
	}
}
