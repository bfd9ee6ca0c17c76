package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
	"trashsort/safetensors"
	"trashsort/tensor"
)

func subsets(t *testing.T, nTrain, nVal int) (*data.Dataset, *data.Dataset, string) {
	t.Helper()
	root := shared.Path(t, "trashnet")
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	tr, va, err := data.FromSplitFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	return tr.Subset(nTrain), va.Subset(nVal), w
}

func smallConfig(dir string) Config {
	return Config{
		Backbone: "mobilenet_v2_035", Size: 128, Batch: 16, Head: classifier.Head{Units: 512},
		Epochs1: 8, Epochs2: 4, LR1: 3e-4, LR2: 3e-4, Augment: data.SeedRecipe(), CacheFeatures: 4, Seed: 1,
		Out: filepath.Join(dir, "model.safetensors"), LogDir: dir,
	}
}

// TestTwoStageRecipe is the CI integration test: MobileNetV2 0.35 on 20
// train and 10 val images per class; both stages must reach 60% (chance 17%).
func TestTwoStageRecipe(t *testing.T) {
	tr, va, w := subsets(t, 20, 10)
	dir := t.TempDir()
	cfg := smallConfig(dir)
	res := fitReaching(t, cfg, tr, va, w, 0.6)
	for _, f := range []string{"history.csv", "loss.png", "accuracy.png", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// The saved file reproduces the recorded val accuracy exactly.
	clf, err := classifier.Load(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	acc := accuracy(t, clf, va, cfg)
	if acc != clf.Meta.Summary.ValAccuracy {
		t.Errorf("reloaded model scores %.4f on val, file records %.4f", acc, clf.Meta.Summary.ValAccuracy)
	}
	checkCalibration(t, clf, va)
	if runtime.GOOS == "linux" {
		for _, e := range res.History {
			if !(e.RSSMB > 0 && e.PeakRSSMB >= e.RSSMB) {
				t.Errorf("epoch %d: rss %g MB, peak %g MB; want 0 < rss <= peak", e.Epoch, e.RSSMB, e.PeakRSSMB)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "history.csv"))
		if err != nil || !strings.Contains(string(b), ",rss_mb,peak_rss_mb") {
			t.Errorf("history.csv lacks the memory columns: %v\n%s", err, b)
		}
	}
}

// TestTwoStageRecipeBF16: the same run with mixed-precision training
// (--bf16-train) reaches the same bar, and says so in its recipe.
func TestTwoStageRecipeBF16(t *testing.T) {
	tr, va, w := subsets(t, 20, 10)
	cfg := smallConfig(t.TempDir())
	cfg.TrainBF16 = true
	res := fitReaching(t, cfg, tr, va, w, 0.6)
	recipe, bf16 := res.Classifier.Meta.Summary.Recipe, res.Classifier.Model.TrainsInBF16()
	if strings.Contains(recipe, "bfloat16 training") != bf16 {
		t.Errorf("recipe %q does not say whether training ran in bfloat16 (%v)", recipe, bf16)
	}
}

// fitReaching trains cfg and fails the test unless both stages reach
// validation accuracy bar at some epoch.
func fitReaching(t *testing.T, cfg Config, tr, va *data.Dataset, w string, bar float64) *Result {
	t.Helper()
	res, err := Fit(context.Background(), cfg, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	best := map[int]float64{}
	for _, e := range res.History {
		best[e.Stage] = max(best[e.Stage], e.ValAcc)
	}
	t.Logf("best val accuracy: stage 1 %.3f, stage 2 %.3f; wall %v", best[1], best[2], res.Wall)
	if best[1] < bar || best[2] < bar {
		t.Errorf("val accuracy stage 1 %.3f, stage 2 %.3f; want >= %g", best[1], best[2], bar)
	}
	return res
}

func accuracy(t *testing.T, clf *classifier.Classifier, va *data.Dataset, cfg Config) float64 {
	l, err := data.NewLoader(va, data.Config{Size: clf.Meta.Size, BatchSize: cfg.Batch})
	if err != nil {
		t.Fatal(err)
	}
	ch, errf := l.Epoch(context.Background(), 0)
	correct, n := 0, 0
	for b := range ch {
		p, err := clf.Predict(b.X)
		if err != nil {
			t.Fatal(err)
		}
		correct += countCorrect(p, b.Labels)
		n += len(b.Labels)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	return float64(correct) / float64(n)
}

// TestResumeMatchesUninterrupted stops after epoch 1 (and after epoch 3, in
// stage two), resumes, and expects the same weights as one run.
func TestResumeMatchesUninterrupted(t *testing.T) {
	tr, va, w := subsets(t, 6, 3)
	for _, v := range []struct {
		cache       int
		regularized bool
	}{{1, false}, {-1, false}, {2, true}} {
		cache, regularized := v.cache, v.regularized
		base := smallConfig("")
		base.Size, base.Epochs1, base.Epochs2, base.CacheFeatures = 64, 2, 2, cache
		if regularized {
			// Every stateful option: the weight average, mixup's draws,
			// warm-up and cosine positions must all resume exactly.
			base.EMA, base.Mixup, base.WeightDecay, base.Warmup, base.Cosine = 0.9, 0.4, 1e-2, 0.5, true
			base.CacheAt, base.Optimizer2 = "block_11_add", "adam"
		}
		run := func(dir string, stops ...int) map[string]classifier.Tensor {
			cfg := base
			cfg.Out = filepath.Join(dir, "m.safetensors")
			cfg.Checkpoint = filepath.Join(dir, "ckpt")
			cfg.LogDir = ""
			for _, s := range stops {
				cfg.StopAfter = s
				_, err := Fit(context.Background(), cfg, tr, va, w)
				if !errors.Is(err, ErrStopped) {
					t.Fatalf("stop after %d: %v", s, err)
				}
				cfg.Resume = true
			}
			cfg.StopAfter = 0
			if _, err := Fit(context.Background(), cfg, tr, va, w); err != nil {
				t.Fatal(err)
			}
			ts, _, err := safetensors.ReadFile(filepath.Join(cfg.Checkpoint, "last.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}
		want := run(t.TempDir())
		got := run(t.TempDir(), 1, 3)
		for name, v := range want {
			if e := tensor.RelErr(got[name].Data, v.Data); e != 0 {
				t.Fatalf("cache %d (regularized %v): %s differs after resume (rel err %g)", cache, regularized, name, e)
			}
		}
	}
}

// TestFeatureCacheFolder trains twice with a feature folder: the second run
// reads every view instead of computing it and gives the same history.
func TestFeatureCacheFolder(t *testing.T) {
	tr, va, w := subsets(t, 6, 3)
	dir := t.TempDir()
	cfg := smallConfig("")
	cfg.Size, cfg.Epochs1, cfg.Epochs2, cfg.CacheFeatures, cfg.LogDir = 64, 2, 2, 2, ""
	cfg.FeatureDir, cfg.CacheAt = filepath.Join(dir, "features"), "block_11_add"
	var runs [2][]EpochLog
	for i := range runs {
		var log strings.Builder
		cfg.Out, cfg.Progress = filepath.Join(dir, fmt.Sprintf("m%d.safetensors", i)), &log
		res, err := Fit(context.Background(), cfg, tr, va, w)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = res.History
		reads := strings.Count(log.String(), "read from")
		if want := []int{0, 3}[i]; reads != want { // two training views and validation
			t.Fatalf("run %d read %d views from the folder, want %d:\n%s", i+1, reads, want, log.String())
		}
	}
	for i := range runs[0] {
		a, b := runs[0][i], runs[1][i]
		if a.Loss != b.Loss || a.ValLoss != b.ValLoss || a.ValAcc != b.ValAcc {
			t.Fatalf("epoch %d differs with cached views: %+v vs %+v", i+1, a, b)
		}
	}
	// Another seed augments differently: its views are not reused.
	cfg.Seed, cfg.Progress = 2, nil
	var log strings.Builder
	cfg.Progress = &log
	if _, err := Fit(context.Background(), cfg, tr, va, w); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "read from"); n != 1 { // validation only
		t.Fatalf("a different seed read %d views from the folder, want 1 (validation)", n)
	}
}

// TestFinalFit trains on train+val without validation and keeps the last epoch.
func TestFinalFit(t *testing.T) {
	tr, va, w := subsets(t, 6, 3)
	cfg := smallConfig(t.TempDir())
	cfg.Size, cfg.Epochs1, cfg.Epochs2, cfg.CacheFeatures, cfg.FinalFit = 64, 2, 1, 1, true
	res, err := Fit(context.Background(), cfg, tr, va, w)
	if err != nil {
		t.Fatal(err)
	}
	if n, want := res.Classifier.Meta.Summary.TrainImages, len(tr.Items)+len(va.Items); n != want {
		t.Errorf("trained on %d images, want train+val = %d", n, want)
	}
	if res.Best.Epoch != 3 {
		t.Errorf("kept epoch %d, want the last (3)", res.Best.Epoch)
	}
	for _, e := range res.History {
		if e.ValAcc != 0 || e.ValLoss != 0 {
			t.Errorf("epoch %d reports validation %v/%v on a final fit", e.Epoch, e.ValAcc, e.ValLoss)
		}
	}
	if r := res.Classifier.Meta.Summary.Recipe; !strings.Contains(r, "final fit") {
		t.Errorf("recipe %q does not say it is a final fit", r)
	}
	cfg.EarlyStopping = 2
	if _, err := Fit(context.Background(), cfg, tr, va, w); err == nil {
		t.Error("early stopping with a final fit: no error")
	}
}
