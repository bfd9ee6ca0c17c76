package classifier

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/calibrate"
	"trashsort/tensor"
)

// saveSmall saves a small random classifier with the given input size,
// classes, weight seed and calibration, returning it and its path.
func saveSmall(t *testing.T, size int, classes []string, seed uint64, cal *calibrate.Calibration) (*Classifier, string) {
	t.Helper()
	c, err := New(Meta{Backbone: "mobilenet_v2_035", Size: size, Classes: classes, Head: Head{Units: 16}}, seed)
	if err != nil {
		t.Fatal(err)
	}
	c.Model.InitWeights(seed)
	randomize(c, seed) // outputs that depend on the input and the seed
	c.Meta.Calibration = cal
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	return c, path
}

func rawImages(n, size int) *tensor.Tensor {
	x := tensor.New(n, size, size, 3)
	for i := range x.Data {
		x.Data[i] = float32((i * 37) % 256)
	}
	return x
}

// TestEnsembleAveragesCalibratedMembers: an ensemble's prediction is the mean
// of its members' calibrated probabilities, whatever their sizes; it has no
// temperature of its own and the mean of the members' thresholds.
func TestEnsembleAveragesCalibratedMembers(t *testing.T) {
	classes := []string{"a", "b", "c"}
	a, pa := saveSmall(t, 64, classes, 1, &calibrate.Calibration{Temperature: 2, MinConfidence: 0.5})
	b, pb := saveSmall(t, 64, classes, 2, &calibrate.Calibration{Temperature: 0.5, MinConfidence: 0.7})
	c, pc := saveSmall(t, 48, classes, 3, nil)
	e, err := LoadEnsemble(pa, pb, pc)
	if err != nil {
		t.Fatal(err)
	}
	if e.Members() != 3 || e.Temperature() != 1 || math.Abs(e.MinConfidence()-0.4) > 1e-12 {
		t.Fatalf("members %d, temperature %g, min confidence %g; want 3, 1, 0.4", e.Members(), e.Temperature(), e.MinConfidence())
	}
	x := rawImages(2, 64)
	got, err := e.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(got.Data))
	for _, m := range []struct {
		c *Classifier
		x *tensor.Tensor
	}{{a, x}, {b, x}, {c, resizeBatch(x, 48, 48)}} {
		p, err := m.c.Predict(m.x)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range p.Data {
			want[i] += v / 3
		}
	}
	if err := tensor.RelErr(got.Data, want); err > 1e-6 {
		t.Errorf("ensemble differs from the mean of its members: relative error %g", err)
	}
	for i := 0; i < 2; i++ {
		s := float32(0)
		for _, v := range got.Data[3*i : 3*i+3] {
			s += v
		}
		if math.Abs(float64(s)-1) > 1e-5 {
			t.Errorf("image %d: probabilities sum to %g", i, s)
		}
	}

	single, err := LoadEnsemble(pa)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := single.Predict(x)
	p2, _ := a.Predict(x)
	if single.Members() != 1 || single.Temperature() != 2 || tensor.RelErr(p1.Data, p2.Data) != 0 {
		t.Error("a one-file ensemble is not the model itself")
	}
}

func TestEnsembleRefusesOtherClasses(t *testing.T) {
	_, pa := saveSmall(t, 32, []string{"a", "b", "c"}, 1, nil)
	_, pb := saveSmall(t, 32, []string{"a", "c", "b"}, 2, nil)
	if _, err := LoadEnsemble(pa, pb); err == nil || !strings.Contains(err.Error(), pb) || !strings.Contains(err.Error(), "classes") {
		t.Errorf("members with classes in another order: %v", err)
	}
	if _, err := LoadEnsemble(pa, filepath.Join(t.TempDir(), "missing.safetensors")); err == nil {
		t.Error("a missing member loaded")
	}
	if _, err := LoadEnsemble(); err == nil {
		t.Error("an empty ensemble loaded")
	}
}

// TestResizeBatch: resizing to the same size is the identity, a constant
// image stays constant, and a horizontal ramp stays monotonic.
func TestResizeBatch(t *testing.T) {
	x := rawImages(2, 10)
	if same := resizeBatch(x, 10, 10); tensor.RelErr(same.Data, x.Data) != 0 {
		t.Error("same-size resize changed the pixels")
	}
	c := tensor.New(1, 9, 9, 3)
	for i := range c.Data {
		c.Data[i] = 7
	}
	for _, v := range resizeBatch(c, 4, 13).Data {
		if math.Abs(float64(v)-7) > 1e-5 {
			t.Fatalf("constant image resized to %g", v)
		}
	}
	r := tensor.New(1, 4, 16, 3)
	for i := range r.Data {
		r.Data[i] = float32((i / 3) % 16)
	}
	out := resizeBatch(r, 4, 5)
	for xx := 1; xx < 5; xx++ {
		if out.Data[3*xx] <= out.Data[3*(xx-1)] {
			t.Fatalf("ramp not increasing after resize: %v", out.Data[:15])
		}
	}
}
