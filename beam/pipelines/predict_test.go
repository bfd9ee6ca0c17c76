package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"trashsort/batch"
	"trashsort/classifier"
	"trashsort/internal/shared"
	"trashsort/internal/testimages"
	"trashsort/models"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// run builds a pipeline with build and runs it on Prism.
func run(t *testing.T, build func(s beam.Scope) error) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := build(s); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// tinyModel saves a three-class MobileNetV2 0.35 at 64 px, head untrained.
func tinyModel(t *testing.T, dir string) string {
	t.Helper()
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"glass", "metal", "paper"}, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// ImageNet weights, so that the answers differ from image to image.
	if err := models.LoadKerasBase(clf.Model, shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"), clf.BaseEnd); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "m.safetensors")
	if err := clf.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPredictOnPrism: over a folder with textured JPEGs and PNGs, a
// truncated JPEG, an empty file and a text file named .jpg, the pipeline
// writes every shard, each file once in the shard batch.Shard names, the
// good files with the records batch.Predictor gives over the whole folder in
// one batch and the bad ones with errors; a rerun writes the same bytes.
func TestPredictOnPrism(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	imgs := filepath.Join(dir, "photos")
	var good []string
	for i, n := range []string{"a/1.jpg", "a/2.png", "b/3.jpg", "b/4.jpg", "c/5.png", "c/6.jpg", "7.jpg"} {
		p := filepath.Join(imgs, n)
		testimages.Textured(t, p, 48+5*i, 36+3*i, i)
		good = append(good, p)
	}
	whole, _ := os.ReadFile(good[0])
	bad := map[string][]byte{"b/truncated.jpg": whole[:len(whole)/3], "c/empty.jpg": nil, "text.jpg": []byte("not an image")}
	for n, b := range bad {
		if err := os.WriteFile(filepath.Join(imgs, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const shards = 3
	outputs := []string{filepath.Join(dir, "run1", "pred"), filepath.Join(dir, "run2", "pred")}
	for _, out := range outputs {
		run(t, func(s beam.Scope) error {
			return Predict(s, PredictOptions{Inputs: []string{imgs}, Model: model, Output: out, Shards: shards, Batch: 4})
		})
	}

	clf, err := classifier.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := batch.NewPredictor(clf, batch.Options{})
	var in []batch.Input
	for _, f := range good {
		b, _ := os.ReadFile(f)
		in = append(in, batch.Input{Name: f, Data: b})
	}
	want, err := p.Predict(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	wantLine := map[string]string{}
	for _, r := range want {
		b, _ := json.Marshal(r)
		wantLine[r.File] = string(b)
	}

	seen := map[string]bool{}
	for i := 0; i < shards; i++ {
		b1, err := os.ReadFile(batch.ShardName(outputs[0], i, shards))
		if err != nil {
			t.Fatal(err)
		}
		b2, err := os.ReadFile(batch.ShardName(outputs[1], i, shards))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Errorf("shard %d differs between runs:\n%s\n%s", i, b1, b2)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b1)), "\n") {
			if l == "" {
				continue
			}
			var r batch.Record
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			if seen[r.File] {
				t.Errorf("%s written twice", r.File)
			}
			seen[r.File] = true
			if s := batch.Shard(r.File, shards); s != i {
				t.Errorf("%s in shard %d, batch.Shard says %d", r.File, i, s)
			}
			rel, _ := filepath.Rel(imgs, r.File)
			if _, isBad := bad[filepath.ToSlash(rel)]; isBad {
				if r.Error == "" || !strings.Contains(r.Error, r.File) {
					t.Errorf("%s: %s, want an error naming the file", r.File, l)
				}
				continue
			}
			if l != wantLine[r.File] {
				t.Errorf("pipeline\n%s\nbatch.Predictor\n%s", l, wantLine[r.File])
			}
		}
	}
	if len(seen) != len(good)+len(bad) {
		t.Errorf("%d files written, want %d", len(seen), len(good)+len(bad))
	}
}

// TestPredictOptionsChecked: a pipeline without inputs, model or output is
// refused before it runs.
func TestPredictOptionsChecked(t *testing.T) {
	for _, o := range []PredictOptions{
		{Model: "m", Output: "o"},
		{Inputs: []string{"x"}, Output: "o"},
		{Inputs: []string{"x"}, Model: "m"},
	} {
		_, s := beam.NewPipelineWithRoot()
		if err := Predict(s, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
