// Package train fits a classifier with the two-stage transfer-learning
// recipe: stage one trains a new head on a frozen ImageNet backbone, stage
// two unfreezes the top of the backbone and fine-tunes it with a small
// learning rate. It offers a feature cache that runs frozen layers once per
// augmented view instead of once per epoch, Keras-style callbacks
// (checkpoints, resume, early stopping, learning-rate schedules), a CSV log
// and plots.
package train

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/models"
	"trashsort/nn"
)

// Config is a training run. The zero value of each field means the seed
// recipe's choice where there is one.
type Config struct {
	// Backbone names a registered architecture (default models.Default());
	// Size is the input size (224).
	Backbone string
	// FromModel, when set, starts from a trained model file instead of the
	// backbone's ImageNet weights: its backbone, and its head when the
	// classes are the same (else the output layer starts afresh), for
	// fine-tuning a model on a site's few labelled photos. Backbone, size,
	// head width and preprocessing are the model's.
	FromModel string
	// Imprint sets the head, before any epoch, from the class means of the
	// training photos' pooled features: it classifies by the distance to
	// each mean (nearest class mean), which with a few photos a class does
	// better than a head fitted by gradient descent (docs/EXPERIMENTS.md).
	// Epochs after it fine-tune from there; with none, the head is the
	// means, calibrated on each photo's prediction by the others' means
	// when there is no validation split.
	Imprint bool
	Size    int
	// TestSizes are the input sizes whose predictions the saved model
	// averages (classifier.Meta.TestSizes); empty: Size alone. Training
	// and the per-epoch validation use Size.
	TestSizes []int
	Batch     int
	Head      classifier.Head

	// Stage one: the base frozen, RMSprop.
	Epochs1    int
	Optimizer1 string
	LR1        float64
	// Stage two: layers from UnfreezeFrom on trainable (an index such as
	// "249" or a layer name such as "mixed9"), SGD with momentum.
	Epochs2      int
	UnfreezeFrom string
	LR2          float64
	Momentum2    float64

	// Augment is applied on the fly (or per cached view); nil means none.
	Augment *data.Augment
	// Resize is "bilinear" (default) or "nearest" (flow_from_directory's).
	Resize string
	// Rescale, when non-zero, replaces the backbone's preprocessing by x*Rescale
	// (the seed recipe's rescale=1/255).
	Rescale float64

	// CacheFeatures: -1 computes frozen layers on the fly every epoch; K > 0
	// runs them once per augmented view for K views; 0 once, unaugmented.
	CacheFeatures int
	// CacheAt names the layer (index or name) whose output stage two's cache
	// stores; default the boundary just below UnfreezeFrom. A lower layer
	// lets one cache serve several unfreeze points: the frozen layers in
	// between then run in inference mode at every step.
	CacheAt string
	// CacheBudget is the memory (bytes) for cached activations; beyond it they go to disk.
	CacheBudget int64
	// FeatureDir, when set, keeps each finished cached view in a file named
	// after everything that determines it (backbone, weights, size,
	// augmentation, seed, view, images), so a later run with the same
	// inputs reads it instead of recomputing it (fastai's precompute).
	FeatureDir string
	// Features, when set, is a folder of precomputed feature views, whole
	// (a FeatureDir's files) or in row shards (FeaturePlan.Extract's, which
	// trashsort-beam features writes): every view the cache needs is read
	// from it, none computed, and a missing one is an error. It needs
	// CacheFeatures 0 or more and no FeatureDir.
	Features string
	// BF16 computes the cached training views' frozen layers in bfloat16
	// where the CPU supports it (validation stays float32, so the recorded
	// accuracy is what float32 inference reproduces).
	BF16 bool
	// TrainBF16 runs the convolutions that train in bfloat16 (forward and
	// both backward passes; float32 weights, gradients, optimizer state and
	// BatchNorm statistics) where the CPU supports it: nn.Model.TrainBF16.
	TrainBF16 bool

	ClassWeight    string // "" or "balanced"
	LabelSmoothing float64
	// Mixup, when positive, is mixup's alpha: each batch is mixed with a
	// permutation of itself with weights lam ~ Beta(alpha, alpha), images or
	// cached activations alike (timm --mixup, fastai MixUp).
	Mixup float64
	// WeightDecay is decoupled weight decay on kernels (not biases or
	// BatchNorm): w -= lr*wd*w every step (Keras 3's weight_decay, AdamW's
	// and timm's convention of leaving norms and biases alone).
	WeightDecay float64
	// EMA, when in (0, 1), keeps an exponential moving average of the
	// stage's weights with this decay (warmed up as timm's ModelEmaV2);
	// validation and the saved model use the average.
	EMA float64
	// Optimizer2 is stage two's optimizer: "sgd" (default, with Momentum2)
	// or "adam".
	Optimizer2 string
	// FinalFit trains on the training and validation sets together with
	// the chosen schedule and keeps the last epoch (the validation set is
	// then part of training: the run has no validation number of its own).
	FinalFit bool
	// Warmup is the number of epochs at the start of stage two over which
	// the rate ramps up linearly from near zero (per step).
	Warmup float64

	// Callbacks. EarlyStopping and ReducePatience watch val_loss (Keras'
	// defaults); 0 turns them off. Cosine decays each stage's rate to 0.
	EarlyStopping  int
	ReducePatience int
	ReduceFactor   float64
	Cosine         bool

	Seed    uint64
	Workers int

	// Out is the model file; Checkpoint the folder for the resumable state
	// (default Out + ".ckpt"); LogDir receives history.csv and the plots.
	Out        string
	Checkpoint string
	LogDir     string
	Resume     bool
	// StopAfter ends the run after that many epochs in total, as an
	// interruption would (for tests of Resume); 0 means no limit.
	StopAfter int

	// Progress receives progress bars and per-epoch lines (nil: quiet).
	Progress io.Writer
}

// Defaults fills in the seed recipe's values.
func (c *Config) Defaults() {
	if c.Backbone == "" {
		c.Backbone = models.Default()
	}
	if c.Size == 0 {
		c.Size = 224
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
	if c.Head.Units == 0 {
		c.Head.Units = 1024
	}
	if c.Optimizer1 == "" {
		c.Optimizer1 = "rmsprop"
	}
	if c.LR1 == 0 {
		c.LR1 = 1e-3
	}
	if c.LR2 == 0 {
		c.LR2 = 1e-4
	}
	if c.Momentum2 == 0 {
		c.Momentum2 = 0.9
	}
	if c.ReduceFactor == 0 {
		c.ReduceFactor = 0.1
	}
	if c.CacheBudget == 0 {
		c.CacheBudget = 6 << 30
	}
	if c.Optimizer2 == "" {
		c.Optimizer2 = "sgd"
	}
	if c.Checkpoint == "" && c.Out != "" {
		c.Checkpoint = c.Out + ".ckpt"
	}
}

// unfreezeIndex resolves UnfreezeFrom against the model.
func unfreezeIndex(m *nn.Model, from, fallback string) (int, error) {
	if from == "" {
		from = fallback
	}
	if i, err := strconv.Atoi(from); err == nil {
		if i < 1 || i >= len(m.Layers) {
			return 0, fmt.Errorf("unfreeze-from %d outside [1, %d)", i, len(m.Layers))
		}
		return i, nil
	}
	i := m.Index(from)
	if i < 0 {
		return 0, fmt.Errorf("unfreeze-from: no layer named %q", from)
	}
	return i, nil
}

// Validate refuses every setting outside its range, naming the setting
// and its command-line flag. Fit calls it after Defaults.
func (c *Config) Validate() error {
	finitePos := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	checks := []struct {
		bad           bool
		field, flag   string
		value, range_ string
	}{
		{c.Batch < 1, "Batch", "--batch", fmt.Sprint(c.Batch), "at least 1"},
		{c.Size < 1, "Size", "--size", fmt.Sprint(c.Size), "at least 1"},
		{c.Epochs1 < 0, "Epochs1", "--epochs1", fmt.Sprint(c.Epochs1), "0 or more"},
		{c.Epochs2 < 0, "Epochs2", "--epochs2", fmt.Sprint(c.Epochs2), "0 or more"},
		{c.Epochs1+c.Epochs2 < 1 && c.FromModel == "" && !c.Imprint, "Epochs1+Epochs2", "--epochs1 and --epochs2", fmt.Sprint(c.Epochs1 + c.Epochs2), "at least 1 epoch in all (an untrained model is not written)"},
		{!finitePos(c.LR1), "LR1", "--lr1", fmt.Sprint(c.LR1), "a positive, finite rate"},
		{!finitePos(c.LR2), "LR2", "--lr2", fmt.Sprint(c.LR2), "a positive, finite rate"},
		{!(c.Momentum2 >= 0 && c.Momentum2 < 1), "Momentum2", "--momentum", fmt.Sprint(c.Momentum2), "[0, 1)"},
		{!(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1), "LabelSmoothing", "--label-smoothing", fmt.Sprint(c.LabelSmoothing), "[0, 1)"},
		{!(c.Mixup >= 0 && !math.IsInf(c.Mixup, 0)), "Mixup", "--mixup", fmt.Sprint(c.Mixup), "0 or a finite alpha"},
		{!(c.WeightDecay >= 0 && !math.IsInf(c.WeightDecay, 0)), "WeightDecay", "--weight-decay", fmt.Sprint(c.WeightDecay), "0 or more, finite"},
		{!(c.EMA >= 0 && c.EMA < 1), "EMA", "--ema", fmt.Sprint(c.EMA), "[0, 1)"},
		{!(c.Warmup >= 0 && !math.IsInf(c.Warmup, 0)), "Warmup", "--warmup", fmt.Sprint(c.Warmup), "0 or more epochs"},
		{c.CacheFeatures < -1, "CacheFeatures", "--cache-features", fmt.Sprint(c.CacheFeatures), "-1, 0 or a number of views"},
		{c.EarlyStopping < 0, "EarlyStopping", "--early-stopping", fmt.Sprint(c.EarlyStopping), "0 (off) or more"},
		{c.ReducePatience < 0, "ReducePatience", "--reduce-lr", fmt.Sprint(c.ReducePatience), "0 (off) or more"},
		{!(c.ReduceFactor > 0 && c.ReduceFactor < 1), "ReduceFactor", "--reduce-factor", fmt.Sprint(c.ReduceFactor), "(0, 1)"},
		{c.Workers < 0, "Workers", "--workers", fmt.Sprint(c.Workers), "0 (one per CPU) or more"},
		{c.CacheBudget < 0, "CacheBudget", "--cache-memory", fmt.Sprint(c.CacheBudget), "0 or more bytes"},
		{c.Features != "" && c.CacheFeatures < 0, "Features", "--features", c.Features, "cached features (--cache-features 0 or more)"},
		{c.Features != "" && c.FeatureDir != "", "Features", "--features", c.Features, "no --feature-cache beside it"},
	}
	for _, k := range checks {
		if k.bad {
			return fmt.Errorf("train: %s (%s) is %s: want %s", k.field, k.flag, k.value, k.range_)
		}
	}
	return nil
}
