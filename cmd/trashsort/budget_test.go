package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"trashsort/data"
	"trashsort/train"
)

// run's time budget takes the plan train.FitBudget chooses for the measured
// throughput, prints the plans it chose from, and leaves a plan the user
// gave explicitly alone.
func TestRunTimeBudget(t *testing.T) {
	defer func(m func(*train.Config) (train.Throughput, error)) { measure = m }(measure)
	measure = func(c *train.Config) (train.Throughput, error) {
		return train.Throughput{Size: c.Size, Forward: 7.3, Stage2: 17}, nil // a 2-core AVX2 machine
	}
	tr := &data.Dataset{Items: make([]data.Item, 1768)}
	va := &data.Dataset{Items: make([]data.Item, 328)}
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{nil, "235 px, 2 views, 8 + 4 epochs"},
		{[]string{"epochs2", "8"}, "not applied, --epochs2 given explicitly"},
	} {
		f, cmd := withRecipe(t, "tuned", "", tc.set...)
		f.timeBudget = 15 * time.Minute
		cfg, err := f.config()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := f.fitBudget(&out, cmd.Flags(), &cfg, tr, va); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("flags %v: printed\n%s\nwant %q", tc.set, out.String(), tc.want)
		}
		if tc.set == nil && (cfg.Size != 235 || cfg.CacheFeatures != 2 || cfg.Epochs2 != 4) {
			t.Errorf("budget plan not applied: size %d, views %d, epochs2 %d", cfg.Size, cfg.CacheFeatures, cfg.Epochs2)
		}
		if tc.set != nil && (cfg.Size != 299 || cfg.Epochs2 != 8) {
			t.Errorf("explicit plan changed: size %d, epochs2 %d", cfg.Size, cfg.Epochs2)
		}
	}
	if _, err := run(t, "run", "--time-budget", "-1m", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "--time-budget") {
		t.Errorf("a negative --time-budget: %v", err)
	}
}
