package classifier

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The source feature statistics survive a save and load beside an open-set
// detector; a file whose metadata names them but lacks them, holds them
// misshapen or with a negative spread is refused with its name in the
// error, and so is a model file holding them unannounced.
func TestSourceFeaturesRoundTrip(t *testing.T) {
	c := small(t)
	d := c.featureDim()
	mean, std := make([]float32, d), make([]float32, d)
	for i := range mean {
		mean[i], std[i] = float32(i)/10, 1+float32(i)/100
	}
	if err := c.SetSourceFeatures(mean, std, SourceFeatures{Images: 12, Split: "val"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetOpenSet(fittedGaussian(t, c), OpenSet{Threshold: -50, TPR: 0.95}); err != nil {
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
	m, s, ok := back.SourceFeatureStats()
	if !ok || !slices.Equal(m, mean) || !slices.Equal(s, std) || back.Meta.SourceFeatures.Images != 12 || !back.HasOpenSet() {
		t.Fatalf("loaded %v %+v", ok, back.Meta.SourceFeatures)
	}

	meta, err := Metadata(back.Meta)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	withDetector := func() map[string]Tensor {
		ts := Tensors(small(t).Model)
		for name, v := range back.openSetTensors() {
			ts[name] = v
		}
		return ts
	}
	for _, tc := range []struct {
		name string
		mod  func(map[string]Tensor)
		want string
	}{
		{"missing", func(map[string]Tensor) {}, sourceFeaturesMean},
		{"misshapen", func(ts map[string]Tensor) {
			ts[sourceFeaturesMean] = Tensor{Shape: []int{2}, Data: make([]float32, 2)}
			ts[sourceFeaturesStd] = Tensor{Shape: []int{2}, Data: make([]float32, 2)}
		}, "expected shape"},
		{"negative spread", func(ts map[string]Tensor) {
			neg := slices.Clone(std)
			neg[3] = -1
			ts[sourceFeaturesMean] = Tensor{Shape: []int{d}, Data: mean}
			ts[sourceFeaturesStd] = Tensor{Shape: []int{d}, Data: neg}
		}, "channel 3"},
		{"not finite", func(ts map[string]Tensor) {
			nan := slices.Clone(mean)
			nan[0] = float32(math.NaN())
			ts[sourceFeaturesMean] = Tensor{Shape: []int{d}, Data: nan}
			ts[sourceFeaturesStd] = Tensor{Shape: []int{d}, Data: std}
		}, "channel 0"},
	} {
		ts := withDetector()
		tc.mod(ts)
		writeTensors(t, bad, ts, meta)
		if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v, want one naming %q and the file", tc.name, err, tc.want)
		}
	}
	// Statistics the metadata does not announce are extra tensors.
	plain := small(t)
	pm, err := Metadata(plain.Meta)
	if err != nil {
		t.Fatal(err)
	}
	ts := Tensors(plain.Model)
	ts[sourceFeaturesMean] = Tensor{Shape: []int{d}, Data: mean}
	writeTensors(t, bad, ts, pm)
	if _, err := Load(bad); err == nil {
		t.Error("unannounced statistics accepted")
	}
	if err := c.SetSourceFeatures(mean[:3], std[:3], SourceFeatures{}); err == nil {
		t.Error("statistics of the wrong width accepted")
	}
}
