package train

import (
	"fmt"
	"testing"
	"time"

	"trashsort/data"
)

func tunedConfig(t *testing.T, backbone string) Config {
	t.Helper()
	r, err := RecipeNamed("tuned")
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Backbone: backbone, Size: 224, CacheFeatures: 3, Epochs1: 3, Epochs2: 10, Augment: &data.Augment{}}
	r.Apply(&c)
	return c
}

// TrashNet's split and the test split run evaluates on.
var trashnet = Images{Train: 1768, Val: 328, Test: 431}

func TestEstimate(t *testing.T) {
	p := PlanOf(tunedConfig(t, "inception_v3"))
	tp := Throughput{Size: 299, Forward: 30, Stage2: 43}
	// Features 1768*4+328 = 7400 images / 30; stage two 8 epochs of 2096 / 43;
	// evaluation and calibration (328+431) at 299, 331 and 363 px / 30; overhead.
	scale := 1 + float64(331*331)/(299*299) + float64(363*363)/(299*299)
	want := 30 + 7400.0/30 + 8*2096.0/43 + 759*scale/30
	got := Estimate(p, tp, trashnet).Seconds()
	if d := got - want; d > 0.5 || d < -0.5 {
		t.Errorf("estimate %.1f s, want %.1f s", got, want)
	}
	// Twice the throughput, about half the time; twice the pixels, twice the time.
	fast := Estimate(p, Throughput{Size: 299, Forward: 60, Stage2: 86}, trashnet).Seconds()
	if d := fast - (30 + (want-30)/2); d > 0.5 || d < -0.5 {
		t.Errorf("at twice the throughput %.1f s, want %.1f", fast, 30+(want-30)/2)
	}
	if e := Estimate(p, Throughput{}, trashnet); e < 100*time.Hour {
		t.Errorf("no throughput measured: estimate %v, want never", e)
	}
}

func TestFitBudget(t *testing.T) {
	iv3 := tunedConfig(t, "inception_v3")
	for _, tc := range []struct {
		name   string
		c      Config
		tp     Throughput
		budget time.Duration
		want   string
		fits   bool
	}{
		// The machine the presets were measured on (AVX-512 with BF16):
		// the tuned preset fits the default budget unchanged.
		{"avx512", iv3, Throughput{299, 30, 43}, 15 * time.Minute, "299 px, 4 views, 8 + 8 epochs, predicting at 299,331,363 px", true},
		// A 2-core AVX2 machine, four times slower at features.
		{"avx2", iv3, Throughput{299, 7.3, 17}, 15 * time.Minute, "235 px, 2 views, 8 + 4 epochs, predicting at 235 px", true},
		{"avx2, an hour", iv3, Throughput{299, 7.3, 17}, time.Hour, "299 px, 4 views, 8 + 8 epochs, predicting at 299,331,363 px", true},
		{"avx2, half an hour", iv3, Throughput{299, 7.3, 17}, 30 * time.Minute, "299 px, 2 views, 8 + 8 epochs, predicting at 299 px", true},
		{"too slow for any", iv3, Throughput{299, 0.5, 1}, 15 * time.Minute, "235 px, 1 views, 8 + 4 epochs, predicting at 235 px", false},
		// Other backbones step down by multiples of 32.
		{"mobilenet", tunedConfig(t, "mobilenet_v2"), Throughput{224, 10, 20}, 11 * time.Minute, "160 px, 2 views, 5 + 7 epochs, predicting at 160 px", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := FitBudget(tc.c, tc.tp, trashnet, tc.budget)
			if got := ch.Plan.String(); got != tc.want || ch.Fits != tc.fits {
				t.Errorf("chose %s (fits %v), want %s (fits %v); estimates %v", got, ch.Fits, tc.want, tc.fits, ch.Estimates)
			}
			for i := 1; i < len(ch.Estimates); i++ {
				if ch.Estimates[i] > ch.Estimates[i-1] {
					t.Errorf("plan %d (%s) costs more than the one before it", i, ch.Plans[i])
				}
			}
			if ch.Fits && ch.Estimate > tc.budget {
				t.Errorf("estimate %v over the budget %v", ch.Estimate, tc.budget)
			}
			var c Config
			ch.Plan.Apply(&c)
			if fmt.Sprint(PlanOf(c)) != fmt.Sprint(ch.Plan) {
				t.Errorf("Apply then PlanOf: %v, want %v", PlanOf(c), ch.Plan)
			}
		})
	}
}
