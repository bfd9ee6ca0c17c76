package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"trashsort/bench"
	"trashsort/data"
	"trashsort/dnnl"
	"trashsort/train"
)

// defaultTimeBudget is run's budget: about the default job's time on the
// machine its preset was measured on, which the tuned preset fits there.
const defaultTimeBudget = 15 * time.Minute

// planFlags are the flags a budget's plan sets; one set explicitly keeps
// the plan the user gave.
var planFlags = []string{"size", "cache-features", "epochs1", "epochs2", "test-sizes"}

// fitBudget measures this machine's throughput at cfg's size and sets the
// largest plan of the preset that is estimated to finish within the
// budget (train.FitBudget), printing what it measured, chose and why.
func (f *trainFlags) fitBudget(out io.Writer, fs *pflag.FlagSet, cfg *train.Config, tr, va *data.Dataset) error {
	var set []string
	for _, name := range planFlags {
		if fs.Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(set) > 0 {
		fmt.Fprintf(out, "time budget: not applied, %s given explicitly\n", strings.Join(set, ", "))
		return nil
	}
	tp, err := measure(cfg)
	if err != nil {
		return fmt.Errorf("time budget: measuring this machine: %w", err)
	}
	n := train.Images{Train: len(tr.Items), Val: len(va.Items)}
	if root := f.primaryData(); root != "" && f.trainDir == "" {
		if ts, err := data.FromFolder(filepath.Join(root, "test"), nil); err == nil {
			n.Test = len(ts.Items)
		}
	}
	ch := train.FitBudget(*cfg, tp, n, f.timeBudget)
	fmt.Fprintf(out, "time budget %v: measured %.1f img/s through the frozen backbone and %.1f img/s fine-tuning at %d px (%s)\n",
		f.timeBudget, tp.Forward, tp.Stage2, tp.Size, dnnl.ISA())
	for i, p := range ch.Plans {
		mark := " "
		if p.String() == ch.Plan.String() {
			mark = "*"
		}
		fmt.Fprintf(out, "  %s %s: about %v\n", mark, p, ch.Estimates[i].Round(time.Second))
	}
	if !ch.Fits {
		fmt.Fprintf(out, "time budget: no plan fits %v; running the smallest\n", f.timeBudget)
	}
	ch.Plan.Apply(cfg)
	return nil
}

// measure is measureThroughput, replaced in tests.
var measure = measureThroughput

// measureThroughput runs a few batches of the frozen backbone and of a
// cached fine-tuning step, in the precisions training will use.
func measureThroughput(cfg *train.Config) (train.Throughput, error) {
	fwd, st2 := "forward", "stage2-cached"
	if cfg.BF16 && dnnl.HasBF16() {
		fwd = "forward-bf16"
	}
	if cfg.TrainBF16 && dnnl.HasBF16() {
		st2 = "stage2-cached-bf16"
	}
	const batch, iters, warmup = 16, 2, 1
	a, err := bench.Run(cfg.Backbone, fwd, cfg.Size, batch, iters, warmup, 0)
	if err != nil {
		return train.Throughput{}, err
	}
	b, err := bench.RunFrom(cfg.Backbone, st2, cfg.Size, batch, iters, warmup, cfg.UnfreezeFrom)
	if err != nil {
		return train.Throughput{}, err
	}
	return train.Throughput{Size: cfg.Size, Forward: a.ImgPerS, Stage2: b.ImgPerS}, nil
}
