package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
)

// TestPrecomputedFeatures: the pieces of a FeaturePlan, computed one batch
// at a time by an extractor built from the plan's JSON, give Fit with
// Features the model plain Fit trains, bit for bit; a missing piece is an
// error, not a recomputation.
func TestPrecomputedFeatures(t *testing.T) {
	tr, va, w := subsets(t, 5, 3)
	for _, tc := range []struct {
		name  string
		setup func(*Config)
	}{
		{"augmented views and stage two", func(c *Config) { c.CacheFeatures, c.Epochs2, c.CacheAt = 2, 1, "block_11_add" }},
		{"one unaugmented view, stage one only", func(c *Config) { c.CacheFeatures, c.Epochs2 = 0, 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig("")
			cfg.Size, cfg.Epochs1, cfg.Batch, cfg.LogDir = 64, 2, 8, ""
			tc.setup(&cfg)
			plain := cfg
			plain.Out = filepath.Join(dir, "plain.safetensors")
			want, err := Fit(context.Background(), plain, tr, va, w)
			if err != nil {
				t.Fatal(err)
			}

			plan, err := PlanFeatures(context.Background(), cfg, tr, va, w)
			if err != nil {
				t.Fatal(err)
			}
			planPath := filepath.Join(dir, "plan.json")
			if err := plan.Write(planPath); err != nil {
				t.Fatal(err)
			}
			read, err := ReadFeaturePlan(planPath)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := read.NewExtractor(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			feats := filepath.Join(dir, "features")
			jobs := read.Jobs(1) // one batch each: many shards per view
			if len(jobs) < 3 {
				t.Fatalf("%d jobs", len(jobs))
			}
			var names []string
			for _, j := range jobs {
				shards, err := ex.Extract(context.Background(), j)
				if err != nil {
					t.Fatal(err)
				}
				if err := WriteShards(feats, shards); err != nil {
					t.Fatal(err)
				}
				for _, s := range shards {
					names = append(names, s.Name)
				}
			}

			fromFeatures := cfg
			fromFeatures.Out, fromFeatures.Features = filepath.Join(dir, "features.safetensors"), feats
			var log strings.Builder
			fromFeatures.Progress = &log
			got, err := Fit(context.Background(), fromFeatures, tr, va, w)
			if err != nil {
				t.Fatal(err)
			}
			if n, views := strings.Count(log.String(), "read from"), max(cfg.CacheFeatures, 1)+1; n != views {
				t.Errorf("read %d views from the shards, want %d:\n%s", n, views, log.String())
			}
			wt, gt := classifier.Tensors(want.Classifier.Model), classifier.Tensors(got.Classifier.Model)
			for name, v := range wt {
				for i := range v.Data {
					if math.Float32bits(v.Data[i]) != math.Float32bits(gt[name].Data[i]) {
						t.Fatalf("%s[%d] = %v from the shards, %v from plain training", name, i, gt[name].Data[i], v.Data[i])
					}
				}
			}
			if len(got.History) != len(want.History) {
				t.Fatalf("%d epochs from the shards, %d plain", len(got.History), len(want.History))
			}
			for i, a := range want.History {
				b := got.History[i]
				if a.Loss != b.Loss || a.Acc != b.Acc || a.ValLoss != b.ValLoss || a.ValAcc != b.ValAcc {
					t.Errorf("epoch %d from the shards %+v, plain %+v", i+1, b, a)
				}
			}

			// A missing piece stops the run.
			if err := os.Remove(filepath.Join(feats, names[len(names)/2])); err != nil {
				t.Fatal(err)
			}
			fromFeatures.Progress, fromFeatures.Out = nil, filepath.Join(dir, "missing.safetensors")
			if _, err := Fit(context.Background(), fromFeatures, tr, va, w); err == nil || !strings.Contains(err.Error(), "rows") {
				t.Errorf("a missing shard: err %v, want one naming the missing rows", err)
			}
		})
	}
}

// TestFeaturesValidated: Features needs cached features and no FeatureDir.
func TestFeaturesValidated(t *testing.T) {
	for _, tc := range []struct {
		set func(*Config)
		ok  bool
	}{
		{func(c *Config) { c.Features = "f" }, true},
		{func(c *Config) { c.Features, c.CacheFeatures = "f", -1 }, false},
		{func(c *Config) { c.Features, c.FeatureDir = "f", "d" }, false},
	} {
		c := smallConfig("")
		tc.set(&c)
		c.Defaults()
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", c.Features, err)
		}
	}
}
