package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"trashsort/batch"
	"trashsort/classifier"
	"trashsort/internal/shared"
	"trashsort/internal/testimages"
	"trashsort/models"
)

// TestPredictShards: the shards of predict --shard i/N are disjoint, cover
// the folder, hold the files batch.Shard assigns them, and print the lines
// a batch.Predictor's records encode to, byte for byte.
func TestPredictShards(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	// ImageNet weights, so that the answers differ from image to image.
	clf, err := classifier.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.LoadKerasBase(clf.Model, shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"), clf.BaseEnd); err != nil {
		t.Fatal(err)
	}
	if err := clf.Save(model); err != nil {
		t.Fatal(err)
	}
	imgs := filepath.Join(dir, "imgs")
	for i := 0; i < 9; i++ {
		ext := ".jpg"
		if i%3 == 0 {
			ext = ".png"
		}
		testimages.Textured(t, filepath.Join(imgs, fmt.Sprintf("p%d%s", i, ext)), 40+3*i, 30+2*i, i)
	}
	all, err := run(t, "predict", "--model", model, "--format", "json", imgs)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(all), "\n")
	if len(lines) != 9 {
		t.Fatalf("predict printed %d lines for 9 images:\n%s", len(lines), all)
	}
	if strings.Contains(lines[0], `"probabilities":{"a":0.5,"b":0.5}`) {
		t.Fatalf("the model answers evenly: %s", lines[0])
	}
	const n = 3
	var union []string
	for i := 0; i < n; i++ {
		out, err := run(t, "predict", "--model", model, "--format", "json", "--shard", fmt.Sprintf("%d/%d", i, n), imgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var r batch.Record
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			if s := batch.Shard(r.File, n); s != i {
				t.Errorf("shard %d/%d printed %s, which is shard %d's", i, n, r.File, s)
			}
			union = append(union, l)
		}
	}
	slices.Sort(union)
	want := slices.Clone(lines)
	slices.Sort(want)
	if !slices.Equal(union, want) {
		t.Errorf("the shards' lines are not predict's:\n%s\nwant\n%s", strings.Join(union, "\n"), strings.Join(want, "\n"))
	}

	p, err := batch.NewPredictor(clf, batch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var in []batch.Input
	for _, l := range lines {
		var r batch.Record
		json.Unmarshal([]byte(l), &r)
		b, err := os.ReadFile(r.File)
		in = append(in, batch.Input{Name: r.File, Data: b, Err: err})
	}
	recs, err := p.Predict(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		b, _ := json.Marshal(r)
		if string(b) != lines[i] {
			t.Errorf("batch record\n%s\npredict's line\n%s", b, lines[i])
		}
	}
	if _, err := run(t, "predict", "--model", model, "--shard", "3/3", imgs); err == nil || !strings.Contains(err.Error(), "--shard") {
		t.Errorf("--shard 3/3: err %v, want one naming --shard", err)
	}
}
