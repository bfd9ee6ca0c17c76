package pipelines

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
	"trashsort/train"
)

// TestFeaturesOnPrism: the pipeline's shards of a plan (two augmented
// views, a stage two) make train --features train plain train's model,
// bit for bit.
func TestFeaturesOnPrism(t *testing.T) {
	tr, va, err := data.FromSplitFolders(shared.Path(t, "trashnet"))
	if err != nil {
		t.Fatal(err)
	}
	tr, va = tr.Subset(4), va.Subset(2)
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	dir := t.TempDir()
	cfg := train.Config{
		Backbone: "mobilenet_v2_035", Size: 64, Batch: 8, Head: classifier.Head{Units: 16},
		Epochs1: 2, Epochs2: 1, LR1: 3e-4, LR2: 3e-4, Augment: data.SeedRecipe(), CacheFeatures: 2, CacheAt: "block_11_add", Seed: 3,
	}
	plain := cfg
	plain.Out = filepath.Join(dir, "plain.safetensors")
	want, err := train.Fit(context.Background(), plain, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := train.PlanFeatures(context.Background(), cfg, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(dir, "plan.json")
	if err := plan.Write(planPath); err != nil {
		t.Fatal(err)
	}
	feats := filepath.Join(dir, "features")
	run(t, func(s beam.Scope) error {
		return Features(s, FeaturesOptions{Plan: planPath, Output: feats, Rows: 8})
	})
	fromShards := cfg
	fromShards.Out, fromShards.Features = filepath.Join(dir, "shards.safetensors"), feats
	got, err := train.Fit(context.Background(), fromShards, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	wt, gt := classifier.Tensors(want.Classifier.Model), classifier.Tensors(got.Classifier.Model)
	for name, v := range wt {
		for i := range v.Data {
			if math.Float32bits(v.Data[i]) != math.Float32bits(gt[name].Data[i]) {
				t.Fatalf("%s[%d] = %v from the pipeline's shards, %v from plain training", name, i, gt[name].Data[i], v.Data[i])
			}
		}
	}
}
