package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every setting outside its range is refused before any work, with its
// flag named, and nothing is written over Out.
func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := Config{Epochs1: 1, Out: filepath.Join(t.TempDir(), "m.safetensors")}
		c.Defaults()
		return c
	}
	if err := func() *Config { c := good(); return &c }().Validate(); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	for _, tc := range []struct {
		flag string
		edit func(*Config)
	}{
		{"--batch", func(c *Config) { c.Batch = -1 }},
		{"--epochs1", func(c *Config) { c.Epochs1 = -2 }},
		{"--epochs2", func(c *Config) { c.Epochs2 = -1 }},
		{"--epochs1 and --epochs2", func(c *Config) { c.Epochs1, c.Epochs2 = 0, 0 }},
		{"--lr1", func(c *Config) { c.LR1 = -1 }},
		{"--lr2", func(c *Config) { c.LR2 = math.Inf(1) }},
		{"--momentum", func(c *Config) { c.Momentum2 = 1 }},
		{"--label-smoothing", func(c *Config) { c.LabelSmoothing = 1.5 }},
		{"--mixup", func(c *Config) { c.Mixup = -0.1 }},
		{"--weight-decay", func(c *Config) { c.WeightDecay = math.NaN() }},
		{"--ema", func(c *Config) { c.EMA = 1 }},
		{"--warmup", func(c *Config) { c.Warmup = -1 }},
		{"--cache-features", func(c *Config) { c.CacheFeatures = -2 }},
		{"--early-stopping", func(c *Config) { c.EarlyStopping = -1 }},
		{"--reduce-lr", func(c *Config) { c.ReducePatience = -3 }},
		{"--reduce-factor", func(c *Config) { c.ReduceFactor = 2 }},
		{"--workers", func(c *Config) { c.Workers = -1 }},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("error %v, want one naming %s", err, tc.flag)
			}
			if _, err := Fit(context.Background(), c, nil, nil, ""); err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("Fit: error %v, want one naming %s", err, tc.flag)
			}
			if _, err := os.Stat(c.Out); !os.IsNotExist(err) {
				t.Fatalf("%s was written", c.Out)
			}
		})
	}
}

// A run stopped midway leaves Out as it was: a good model from before is
// not overwritten by an uncalibrated one, and no new file appears.
func TestOutWrittenOnlyAtTheEnd(t *testing.T) {
	tr, va, w := subsets(t, 6, 3)
	cfg := smallConfig(t.TempDir())
	cfg.Size, cfg.Epochs1, cfg.Epochs2, cfg.CacheFeatures, cfg.StopAfter = 64, 3, 0, 1, 2
	if err := os.WriteFile(cfg.Out, []byte("the good model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Fit(context.Background(), cfg, tr, va, w); err == nil {
		t.Fatal("a stopped run reported success")
	}
	if b, _ := os.ReadFile(cfg.Out); string(b) != "the good model" {
		t.Fatalf("Out was rewritten by a stopped run: %d bytes", len(b))
	}
	cfg.StopAfter, cfg.Resume = 0, true
	if _, err := Fit(context.Background(), cfg, tr, va, w); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cfg.Out); string(b) == "the good model" {
		t.Fatal("the finished run did not write Out")
	}
}
