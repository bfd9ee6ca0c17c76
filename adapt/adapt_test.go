package adapt

import (
	"context"
	"slices"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
	"trashsort/tensor"
)

func small(t *testing.T) *classifier.Classifier {
	t.Helper()
	c, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 48, Classes: []string{"a", "b"}, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// weights copies every weight of c by name, to compare after adapting.
func weights(c *classifier.Classifier) map[string][]float32 {
	w := map[string][]float32{}
	for name, t := range classifier.Tensors(c.Model) {
		w[name] = slices.Clone(t.Data)
	}
	return w
}

func photos(t *testing.T) *data.Dataset {
	t.Helper()
	root := t.TempDir()
	testimages.ClassFolders(t, root, []string{"x", "y", "z"}, 7)
	ds, err := data.FromPhotos(root)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// Adaptation changes the BatchNorm moving statistics and nothing else, sets
// each to the statistics of the photos (a first BatchNorm's moving mean
// moves), is recorded in the metadata, and gives the same model twice.
func TestBatchNormChangesOnlyStatisticsAndIsDeterministic(t *testing.T) {
	ds := photos(t)
	var after []map[string]classifier.Tensor
	for run := 0; run < 2; run++ {
		c := small(t)
		before := weights(c)
		trainable := make([]bool, len(c.Model.Layers))
		for i, l := range c.Model.Layers {
			trainable[i] = l.Base().Trainable
		}
		res, err := BatchNorm(context.Background(), c, ds, Options{Batch: 8, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Photos != 21 || res.Layers == 0 {
			t.Fatalf("result %+v, want 21 photos", res)
		}
		got := classifier.Tensors(c.Model)
		changed := 0
		for name, b := range before {
			a := got[name]
			same := slices.Equal(a.Data, b)
			stat := strings.HasSuffix(name, "moving_mean") || strings.HasSuffix(name, "moving_variance")
			if !same && !stat {
				t.Fatalf("%s changed: only BatchNorm statistics may", name)
			}
			if !same {
				changed++
			}
		}
		if changed < res.Layers {
			t.Fatalf("%d statistics changed for %d BatchNorm layers", changed, res.Layers)
		}
		for i, l := range c.Model.Layers {
			if l.Base().Trainable != trainable[i] {
				t.Fatalf("layer %d's trainable flag was not restored", i)
			}
		}
		if len(c.Meta.Adapted) != 1 || c.Meta.Adapted[0].Method != "adabn" || c.Meta.Adapted[0].Photos != 21 {
			t.Fatalf("adaptation record %+v", c.Meta.Adapted)
		}
		after = append(after, got)
	}
	for name, a := range after[0] {
		if !slices.Equal(a.Data, after[1][name].Data) {
			t.Fatalf("%s differs between two adaptations on the same photos", name)
		}
	}
}

// With a single batch, the first BatchNorm's moving mean becomes the mean of
// its input over the photos.
func TestFirstLayerMeanIsThePhotosMean(t *testing.T) {
	ds := photos(t)
	c := small(t)
	m := c.Model
	bn := m.Index("bn_Conv1")
	if bn < 0 {
		t.Skip("no bn_Conv1 layer")
	}
	if _, err := BatchNorm(context.Background(), c, ds, Options{Batch: 64, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	// The input of bn_Conv1 over the same photos, with the adapted model.
	l, err := data.NewLoader(ds, data.Config{Size: 48, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := l.Epoch(context.Background(), 0)
	b := <-ch
	for range ch {
	}
	x := b.X.Clone()
	c.Preprocess(x.Data)
	in := m.Layers[bn].Base().Inputs()[0]
	out, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, []int{in}, false)
	if err != nil {
		t.Fatal(err)
	}
	ch0 := out[0].Shape[3]
	want := make([]float64, ch0)
	rows := out[0].Len() / ch0
	for i, v := range out[0].Data {
		want[i%ch0] += float64(v) / float64(rows)
	}
	mean := classifier.Tensors(m)["bn_Conv1/moving_mean"].Data
	if mean == nil {
		t.Fatalf("no moving mean tensor; names like %v", firstNames(classifier.Tensors(m)))
	}
	for k := range want {
		if d := float64(mean[k]) - want[k]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("channel %d: moving mean %g, photos' mean %g", k, mean[k], want[k])
		}
	}
}

func firstNames(ts map[string]classifier.Tensor) []string {
	var n []string
	for k := range ts {
		n = append(n, k)
		if len(n) > 3 {
			break
		}
	}
	return n
}
