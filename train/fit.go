package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/models"
	"trashsort/nn"
	"trashsort/tensor"
)

// EpochLog is one line of the training history.
type EpochLog struct {
	Epoch   int     `json:"epoch"` // 1-based, counted across both stages
	Stage   int     `json:"stage"`
	Loss    float64 `json:"loss"`
	Acc     float64 `json:"accuracy"`
	ValLoss float64 `json:"val_loss"`
	ValAcc  float64 `json:"val_accuracy"`
	LR      float64 `json:"lr"`
	Seconds float64 `json:"seconds"`
	ImgPerS float64 `json:"img_per_s"`
	// RSSMB and PeakRSSMB are the process's resident memory at the end
	// of the epoch and its peak so far (MB): flat across epochs when the
	// training reuses its memory.
	RSSMB     float64 `json:"rss_mb,omitempty"`
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
	// ValAccByOrigin is the validation accuracy on each dataset of a
	// combined validation set (data.Combine), in Origins order; nil for
	// a set from one place.
	ValAccByOrigin []float64 `json:"val_accuracy_by_origin,omitempty"`
}

// Result is a finished (or interrupted) run.
type Result struct {
	Classifier *classifier.Classifier
	History    []EpochLog
	Best       EpochLog
	// FeatureSeconds is the time spent computing cached activations.
	FeatureSeconds float64
	Wall           time.Duration
	Skipped        int
	Interrupted    bool
}

// ErrStopped is returned (wrapped) when the run stopped early on request
// (StopAfter or a cancelled context) after saving its checkpoint.
var ErrStopped = errors.New("training stopped; resume with --resume")

type trainer struct {
	cfg     Config
	clf     *classifier.Classifier
	m       *nn.Model
	trainL  *data.Loader
	valL    *data.Loader
	from    int // first trainable layer of stage two
	gapIdx  int // the head's GlobalAveragePooling2D
	src     batchSource
	opt     nn.Optimizer
	params  []*nn.Param
	ema     *ema
	decayed []*nn.Param // kernels under weight decay
	steps   int         // optimizer steps per epoch
	loss    nn.CategoricalCrossentropy
	st      state
	res     *Result
	best    map[string]classifier.Tensor

	weightsPath string
}

// prepare builds the trainer: the datasets (a final fit's merged), the
// classifier with its starting weights, the stage-two boundary, the loss and
// the loaders. With decode it decodes every image once and drops the bad
// ones (Loader.Prepare); without, the datasets are taken as already checked
// (a FeaturePlan's).
func prepare(ctx context.Context, cfg Config, trainSet, valSet *data.Dataset, weightsPath string, decode bool) (*trainer, *classifier.Classifier, error) {
	var err error
	if cfg.FinalFit {
		if cfg.EarlyStopping > 0 || cfg.ReducePatience > 0 {
			return nil, nil, errors.New("a final fit has no validation to watch: early stopping and reduce-on-plateau are off with it")
		}
		if valSet != trainSet { // the same set given twice is trained on once
			all := *trainSet
			all.Items = append(append([]data.Item(nil), trainSet.Items...), valSet.Items...)
			trainSet = &all
		}
	}
	if strings.Join(trainSet.Classes, ",") != strings.Join(valSet.Classes, ",") {
		return nil, nil, fmt.Errorf("train classes %v and validation classes %v differ", trainSet.Classes, valSet.Classes)
	}
	meta := classifier.Meta{Backbone: cfg.Backbone, Size: cfg.Size, Classes: trainSet.Classes, Head: cfg.Head, Resize: cfg.Resize, TestSizes: cfg.TestSizes}
	if cfg.Rescale != 0 {
		meta.Preprocess, meta.Rescale = "rescale", cfg.Rescale
	}
	var prev *classifier.Classifier
	if cfg.FromModel != "" {
		if prev, err = classifier.Load(cfg.FromModel); err != nil {
			return nil, nil, fmt.Errorf("from-model: %w", err)
		}
		pm := prev.Meta
		meta.Backbone, meta.Alpha, meta.Preprocess, meta.Rescale = pm.Backbone, pm.Alpha, pm.Preprocess, pm.Rescale
		meta.Head.Units, meta.Resize, meta.Adapted = pm.Head.Units, pm.Resize, pm.Adapted
		meta.Size, meta.TestSizes = pm.Size, pm.TestSizes
		cfg.Backbone, cfg.Resize, cfg.Size, cfg.TestSizes, weightsPath = pm.Backbone, pm.Resize, pm.Size, pm.TestSizes, cfg.FromModel
	}
	clf, err := classifier.New(meta, cfg.Seed)
	if err != nil {
		return nil, nil, err
	}
	t := &trainer{cfg: cfg, clf: clf, m: clf.Model, res: &Result{Classifier: clf}, weightsPath: weightsPath}
	clf.Model.TrainBF16 = cfg.TrainBF16
	t.gapIdx = clf.BaseEnd + 1
	switch {
	case prev != nil:
		if err := startFrom(t.m, prev, trainSet.Classes); err != nil {
			return nil, nil, err
		}
	case weightsPath != "":
		if err := models.LoadKerasBase(t.m, weightsPath, clf.BaseEnd); err != nil {
			return nil, nil, err
		}
	}
	spec, _ := models.Get(cfg.Backbone)
	if t.from, err = unfreezeIndex(t.m, cfg.UnfreezeFrom, spec.FineTuneFrom); err != nil {
		return nil, nil, err
	}
	if t.from > clf.BaseEnd {
		return nil, nil, fmt.Errorf("unfreeze-from %d is past the backbone's last layer %d", t.from, clf.BaseEnd)
	}
	if cfg.ClassWeight == "balanced" {
		t.loss.ClassWeights = trainSet.BalancedClassWeights()
	} else if cfg.ClassWeight != "" {
		return nil, nil, fmt.Errorf("unknown class weight %q (balanced)", cfg.ClassWeight)
	}
	t.loss.LabelSmoothing = float32(cfg.LabelSmoothing)
	report := func(p string, err error) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "skipping %v\n", err)
		}
	}
	if t.trainL, err = data.NewLoader(trainSet, data.Config{Size: cfg.Size, Resize: cfg.Resize, Augment: cfg.Augment, BatchSize: cfg.Batch, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Workers, Cache: true, Report: report}); err != nil {
		return nil, nil, err
	}
	if t.valL, err = data.NewLoader(valSet, data.Config{Size: cfg.Size, Resize: cfg.Resize, BatchSize: cfg.Batch, Workers: cfg.Workers, Cache: true, Report: report}); err != nil {
		return nil, nil, err
	}
	for _, l := range []*data.Loader{t.trainL, t.valL} {
		if !decode {
			break
		}
		n, err := l.Prepare(ctx)
		if err != nil {
			return nil, nil, err
		}
		t.res.Skipped += n
	}
	clf.Meta.Summary = classifier.Summary{Seed: cfg.Seed, TrainImages: t.trainL.Len(), ValImages: t.valL.Len(), Recipe: t.recipe()}
	return t, prev, nil
}

// Fit trains a classifier on train, validating on val after every epoch,
// and saves the best epoch's model to cfg.Out. weightsPath is the
// backbone's ImageNet weight file ("" for random initialization).
func Fit(ctx context.Context, cfg Config, trainSet, valSet *data.Dataset, weightsPath string) (*Result, error) {
	start := time.Now()
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	unlock, err := lockOutput(cfg)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, prev, err := prepare(ctx, cfg, trainSet, valSet, weightsPath, true)
	if err != nil {
		return nil, err
	}
	clf := t.clf
	t.st = newState()
	if cfg.Resume {
		if err := t.loadCheckpoint(); err != nil {
			return nil, err
		}
	}
	t.src = liveSource{t}
	if cfg.CacheFeatures >= 0 {
		fs := time.Now()
		src, err := t.buildFeatureCache(ctx)
		if err != nil {
			return nil, err
		}
		t.src = src
		t.res.FeatureSeconds = time.Since(fs).Seconds()
	}
	defer t.src.close()
	var imprinted *calibrate.Calibration
	if cfg.Imprint && t.st.Epoch == 0 {
		if imprinted, err = t.imprint(ctx); err != nil {
			return nil, err
		}
		if cfg.Epochs1+cfg.Epochs2 == 0 {
			if t.st.Best.ValLoss, t.st.Best.ValAcc, _, err = t.validate(ctx, 1); err != nil {
				return nil, err
			}
		}
	}
	err = t.run(ctx)
	t.res.History = t.st.History
	t.res.Best = t.st.Best
	t.res.Wall = time.Since(start)
	if err != nil {
		return t.res, err
	}
	// The returned classifier and the file hold the best epoch's weights.
	if t.best != nil {
		if err := classifier.SetTensors(t.m, t.best, "best weights"); err != nil {
			return nil, err
		}
	}
	switch {
	case !cfg.FinalFit:
		if err := t.calibrate(ctx); err != nil {
			return nil, err
		}
	case imprinted != nil && cfg.Epochs1+cfg.Epochs2 == 0:
		// An imprinted head fitted on every photo is calibrated on each
		// photo's prediction by the means of the others.
		clf.Meta.Calibration = imprinted
	case prev != nil:
		// A final fit has no held-out split to calibrate on; a fine-tuned
		// model keeps the calibration of the model it started from.
		clf.Meta.Calibration = prev.Meta.Calibration
	}
	if cfg.FinalFit {
		// No calibration pass: one pass for the feature statistics.
		_, _, fm, err := t.valPredictions(ctx)
		if err != nil {
			return nil, fmt.Errorf("source feature statistics: %w", err)
		}
		if err := t.storeSourceFeatures(fm); err != nil {
			return nil, err
		}
	}
	t.fillSummary()
	if cfg.Out != "" {
		if err := clf.Save(cfg.Out); err != nil {
			return nil, err
		}
	}
	if cfg.LogDir != "" {
		if err := writeLogs(cfg.LogDir, t.st.History); err != nil {
			return nil, err
		}
	}
	return t.res, nil
}

func (t *trainer) recipe() string {
	c := t.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "%s %dpx; stage 1: %d epochs %s lr %g; stage 2: %d epochs from layer %d %s lr %g", c.Backbone, c.Size, c.Epochs1, c.Optimizer1, c.LR1, c.Epochs2, t.from, c.Optimizer2, c.LR2)
	if c.Optimizer2 == "sgd" || c.Optimizer2 == "nesterov" {
		fmt.Fprintf(&b, " momentum %g", c.Momentum2)
	}
	for _, o := range []struct {
		name string
		v    float64
	}{{"warmup", c.Warmup}, {"weight decay", c.WeightDecay}, {"ema", c.EMA}, {"mixup", c.Mixup}, {"label smoothing", c.LabelSmoothing}, {"dropout", c.Head.Dropout}} {
		if o.v != 0 {
			fmt.Fprintf(&b, "; %s %g", o.name, o.v)
		}
	}
	if c.Cosine {
		b.WriteString("; cosine")
	}
	if c.CacheFeatures >= 0 {
		fmt.Fprintf(&b, "; feature cache, %d views", c.CacheFeatures)
		if c.CacheAt != "" {
			fmt.Fprintf(&b, " at %s", c.CacheAt)
		}
	} else {
		b.WriteString("; on the fly")
	}
	if t.m.TrainsInBF16() {
		b.WriteString("; bfloat16 training convolutions")
	}
	if c.FinalFit {
		b.WriteString("; final fit on train+val (no validation)")
	}
	return b.String()
}

func (t *trainer) fillSummary() {
	s := &t.clf.Meta.Summary
	s.ValAccuracy, s.ValLoss, s.BestEpoch = t.st.Best.ValAcc, t.st.Best.ValLoss, t.st.Best.Epoch
	s.Epochs = len(t.st.History)
	s.Date = time.Now().UTC().Format(time.RFC3339)
}

// setStage sets the trainable flags and the optimizer for a stage.
func (t *trainer) setStage(stage int) error {
	m := t.m
	m.SetTrainable(0, len(m.Layers), false)
	if stage == 1 {
		m.SetTrainable(t.gapIdx, len(m.Layers), true)
		opt, err := nn.NewOptimizer(t.cfg.Optimizer1, t.cfg.LR1)
		if err != nil {
			return err
		}
		t.opt = opt
	} else {
		m.SetTrainable(t.from, len(m.Layers), true)
		switch t.cfg.Optimizer2 {
		case "sgd":
			t.opt = nn.NewSGD(t.cfg.LR2, t.cfg.Momentum2, false)
		case "nesterov":
			t.opt = nn.NewSGD(t.cfg.LR2, t.cfg.Momentum2, true)
		default:
			opt, err := nn.NewOptimizer(t.cfg.Optimizer2, t.cfg.LR2)
			if err != nil {
				return fmt.Errorf("stage two: %w", err)
			}
			t.opt = opt
		}
	}
	t.params = m.TrainableParams()
	t.decayed = t.decayed[:0]
	for _, p := range t.params {
		if p.Name == "kernel" || p.Name == "depthwise_kernel" {
			t.decayed = append(t.decayed, p)
		}
	}
	t.ema = nil
	if t.cfg.EMA > 0 && t.cfg.EMA < 1 {
		first := t.gapIdx
		if stage == 2 {
			first = t.from
		}
		t.ema = newEMA(t.cfg.EMA, emaParams(m, first))
	}
	return nil
}

func (t *trainer) stageOf(epoch int) int {
	if epoch < t.cfg.Epochs1 {
		return 1
	}
	return 2
}

func (t *trainer) run(ctx context.Context) error {
	total := t.cfg.Epochs1 + t.cfg.Epochs2
	curStage := 0
	for epoch := t.st.Epoch; epoch < total; epoch++ {
		stage := t.stageOf(epoch)
		if stage != curStage {
			if err := t.setStage(stage); err != nil {
				return err
			}
			if t.st.restored != nil && t.st.Stage == stage {
				if err := t.restoreOptimizer(); err != nil {
					return err
				}
			} else {
				t.st.Stage, t.st.Wait, t.st.ReduceWait = stage, 0, 0
				t.st.StageBestLoss = math.Inf(1)
				t.st.LR = t.opt.LearningRate()
			}
			curStage = stage
		}
		if t.st.Stopped {
			if t.stageOf(epoch) == t.st.StoppedStage {
				continue
			}
		}
		t.opt.SetLearningRate(t.lrFor(epoch, 0))
		log, err := t.epoch(ctx, epoch, stage)
		if err != nil {
			if ctx.Err() != nil {
				t.res.Interrupted = true
				return fmt.Errorf("interrupted during epoch %d (epochs up to %d are checkpointed): %w", epoch+1, t.st.Epoch, ErrStopped)
			}
			return err
		}
		t.st.History = append(t.st.History, log)
		t.st.Epoch = epoch + 1
		// A final fit has no validation: the last epoch is the model.
		improved := log.ValAcc > t.st.Best.ValAcc || t.st.Best.Epoch == 0 || t.cfg.FinalFit
		if improved {
			t.st.Best = log
			if t.ema != nil {
				t.ema.swap()
			}
			// The best weights so far live in memory and the checkpoint
			// folder; Out is written once, at the end, calibrated, so that
			// a run killed midway never leaves (or overwrites a good) Out
			// with an uncalibrated model.
			t.best = cloneTensors(classifier.Tensors(t.m))
			if t.ema != nil {
				t.ema.swap()
			}
		}
		t.callbacks(log, stage)
		if t.cfg.Progress != nil {
			mark := ""
			if improved {
				mark = " *"
			}
			fmt.Fprintf(t.cfg.Progress, "epoch %d/%d [stage %d] loss %.4f acc %.4f val_loss %.4f val_acc %.4f lr %.2g %.1fs %.1f img/s rss %.2f GB (peak %.2f)%s\n",
				log.Epoch, total, stage, log.Loss, log.Acc, log.ValLoss, log.ValAcc, log.LR, log.Seconds, log.ImgPerS, log.RSSMB/1024, log.PeakRSSMB/1024, mark)
		}
		if t.cfg.Checkpoint != "" {
			if err := t.saveCheckpoint(); err != nil {
				return err
			}
		}
		if t.cfg.LogDir != "" {
			if err := writeCSV(filepath.Join(t.cfg.LogDir, "history.csv"), t.st.History); err != nil {
				return err
			}
		}
		if ctx.Err() != nil || (t.cfg.StopAfter > 0 && t.st.Epoch >= t.cfg.StopAfter && t.st.Epoch < total) {
			t.res.Interrupted = true
			return fmt.Errorf("after epoch %d: %w", t.st.Epoch, ErrStopped)
		}
	}
	return nil
}

// lrFor is the rate at a point of the run, frac of the way through epoch:
// stage two's linear warm-up, then the cosine schedule, or else the
// (plateau-reduced) constant rate.
func (t *trainer) lrFor(epoch int, frac float64) float64 {
	stage := t.stageOf(epoch)
	base, first, n, warm := t.cfg.LR1, 0, t.cfg.Epochs1, 0.0
	if stage == 2 {
		base, first, n, warm = t.cfg.LR2, t.cfg.Epochs1, t.cfg.Epochs2, t.cfg.Warmup
	}
	return scheduledLR(base, t.st.LR, float64(epoch-first)+frac, float64(n), warm, t.cfg.Cosine)
}

// scheduledLR is the rate at position p (in epochs) of a stage of n epochs
// with base rate base: a linear ramp over the first warm epochs, then cosine
// decay to zero over the rest when cosine is set, else plateau (the rate
// that reduce-on-plateau left).
func scheduledLR(base, plateau, p, n, warm float64, cosine bool) float64 {
	if warm > 0 && p < warm {
		return base * max(p, 1e-3) / warm
	}
	if cosine && n > warm {
		return base * 0.5 * (1 + math.Cos(math.Pi*(p-warm)/(n-warm)))
	}
	if warm > 0 {
		return base
	}
	return plateau
}

// callbacks: early stopping and reduce-LR-on-plateau, both on val_loss.
func (t *trainer) callbacks(log EpochLog, stage int) {
	if log.ValLoss < t.st.StageBestLoss-1e-4 {
		t.st.StageBestLoss, t.st.Wait, t.st.ReduceWait = log.ValLoss, 0, 0
		return
	}
	t.st.Wait++
	t.st.ReduceWait++
	if t.cfg.ReducePatience > 0 && t.st.ReduceWait >= t.cfg.ReducePatience {
		t.st.LR *= t.cfg.ReduceFactor
		t.st.ReduceWait = 0
		if t.cfg.Progress != nil {
			fmt.Fprintf(t.cfg.Progress, "reducing learning rate to %g\n", t.st.LR)
		}
	}
	if t.cfg.EarlyStopping > 0 && t.st.Wait >= t.cfg.EarlyStopping {
		t.st.Stopped, t.st.StoppedStage = true, stage
		if t.cfg.Progress != nil {
			fmt.Fprintf(t.cfg.Progress, "early stopping stage %d: val_loss did not improve for %d epochs\n", stage, t.st.Wait)
		}
	}
}

// epoch trains one epoch and validates.
func (t *trainer) epoch(ctx context.Context, epoch, stage int) (EpochLog, error) {
	start := time.Now()
	log := EpochLog{Epoch: epoch + 1, Stage: stage, LR: t.opt.LearningRate()}
	for _, l := range t.m.Layers {
		if d, ok := l.(*nn.Dropout); ok {
			d.Seed(t.cfg.Seed + uint64(epoch)*7919)
		}
	}
	bar := newEpochBar(t.cfg.Progress, t.trainL.Batches(), fmt.Sprintf("epoch %d", epoch+1))
	var lossSum float64
	var correct, seen int
	var mix *mixer
	if t.cfg.Mixup > 0 {
		mix = newMixer(t.cfg.Mixup, t.cfg.Seed, epoch)
	}
	steps := t.trainL.Batches()
	batch := 0
	step := func(x *tensor.Tensor, labels []int) error {
		t.opt.SetLearningRate(t.lrFor(epoch, float64(batch)/float64(steps)))
		batch++
		for _, p := range t.params {
			p.Grad.Zero()
		}
		lam, perm := 1.0, []int(nil)
		if mix != nil {
			lam, perm = mix.mix(x)
		}
		outs, err := t.m.Run(map[int]*tensor.Tensor{t.src.feed(stage): x}, []int{t.m.Output}, true)
		if err != nil {
			return err
		}
		l, dz, err := t.loss.Compute(outs[0], labels)
		if err != nil {
			return err
		}
		if perm != nil {
			other := make([]int, len(labels))
			for i, j := range perm {
				other[i] = labels[j]
			}
			l2, dz2, err := t.loss.Compute(outs[0], other)
			if err != nil {
				return err
			}
			l = lam*l + (1-lam)*l2
			a, b := float32(lam), float32(1-lam)
			for i := range dz.Data {
				dz.Data[i] = a*dz.Data[i] + b*dz2.Data[i]
			}
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("epoch %d: loss is %v", epoch+1, l)
		}
		if err := t.m.Backward(dz, true); err != nil {
			return err
		}
		if wd := t.cfg.WeightDecay; wd > 0 {
			f := float32(1 - t.opt.LearningRate()*wd)
			for _, p := range t.decayed {
				for i := range p.Value.Data {
					p.Value.Data[i] *= f
				}
			}
		}
		t.opt.Step(t.params)
		if t.ema != nil {
			t.ema.update()
		}
		lossSum += l * float64(len(labels))
		correct += countCorrect(outs[0], labels)
		seen += len(labels)
		bar.step(lossSum/float64(seen), float64(correct)/float64(seen), seen, time.Since(start))
		return nil
	}
	if err := t.src.train(ctx, epoch, stage, step); err != nil {
		return log, err
	}
	bar.done()
	trainTime := time.Since(start)
	log.Loss, log.Acc = lossSum/float64(seen), float64(correct)/float64(seen)
	var err error
	if t.ema != nil {
		t.ema.swap()
	}
	if !t.cfg.FinalFit {
		log.ValLoss, log.ValAcc, log.ValAccByOrigin, err = t.validate(ctx, stage)
	}
	if t.ema != nil {
		t.ema.swap()
	}
	if err != nil {
		return log, err
	}
	log.Seconds = time.Since(start).Seconds()
	log.ImgPerS = float64(seen) / trainTime.Seconds()
	log.RSSMB, log.PeakRSSMB = memoryMB()
	return log, nil
}

func countCorrect(probs *tensor.Tensor, labels []int) int {
	k := probs.Shape[1]
	n := 0
	for i, y := range labels {
		if tensor.Argmax(probs.Data[i*k:(i+1)*k]) == y {
			n++
		}
	}
	return n
}

// validate computes the unweighted loss and accuracy on the validation
// set, and the accuracy on each of its origins when it has several.
func (t *trainer) validate(ctx context.Context, stage int) (float64, float64, []float64, error) {
	var lossSum float64
	var correct, seen int
	items := t.valL.Dataset().Items
	origins := len(t.valL.Dataset().Origins)
	var right, count []int
	if origins > 1 {
		right, count = make([]int, origins), make([]int, origins)
	}
	feed := t.src.feed(stage)
	err := t.src.val(ctx, stage, func(x *tensor.Tensor, labels []int) error {
		outs, err := t.m.Run(map[int]*tensor.Tensor{feed: x}, []int{t.m.Output}, false)
		if err != nil {
			return err
		}
		l, _, err := nn.CategoricalCrossentropy{}.Compute(outs[0], labels)
		if err != nil {
			return err
		}
		lossSum += l * float64(len(labels))
		k := outs[0].Shape[1]
		for i, y := range labels {
			hit := tensor.Argmax(outs[0].Data[i*k:(i+1)*k]) == y
			if hit {
				correct++
			}
			if right != nil {
				// Validation batches come in item order.
				o := items[seen+i].Origin
				count[o]++
				if hit {
					right[o]++
				}
			}
		}
		seen += len(labels)
		return nil
	})
	if err != nil {
		return 0, 0, nil, err
	}
	if seen == 0 {
		return 0, 0, nil, errors.New("validation set is empty")
	}
	var by []float64
	for o := range right {
		// Combine refuses empty parts; an origin whose every image failed
		// to decode scores 0 rather than NaN, which JSON cannot hold.
		by = append(by, float64(right[o])/float64(max(count[o], 1)))
	}
	return lossSum / float64(seen), float64(correct) / float64(seen), by, nil
}

// stageTwoBoundary finds the single layer below from whose output feeds
// every layer from on; the stage-two cache stores it.
func stageTwoBoundary(m *nn.Model, from int) (int, error) {
	b := -1
	for i := from; i < len(m.Layers); i++ {
		for _, j := range m.Layers[i].Base().Inputs() {
			if j < from {
				if b >= 0 && b != j {
					return 0, fmt.Errorf("layers from %d on read from layers %d and %d: the feature cache needs a single boundary (use --cache-features -1)", from, b, j)
				}
				b = j
			}
		}
	}
	if b < 0 {
		return 0, fmt.Errorf("no layer feeds layer %d", from)
	}
	return b, nil
}

func cloneTensors(ts map[string]classifier.Tensor) map[string]classifier.Tensor {
	out := make(map[string]classifier.Tensor, len(ts))
	for k, v := range ts {
		out[k] = classifier.Tensor{Shape: v.Shape, Data: append([]float32(nil), v.Data...)}
	}
	return out
}

// startFrom copies a trained model's weights into m: every weight whose
// name and shape m shares (the output layer's only with the same classes).
func startFrom(m *nn.Model, prev *classifier.Classifier, classes []string) error {
	own := classifier.Tensors(m)
	from := classifier.Tensors(prev.Model)
	take := map[string]classifier.Tensor{}
	sameClasses := slices.Equal(classes, prev.Meta.Classes)
	for name, t := range own {
		f, ok := from[name]
		if strings.HasPrefix(name, "dense_1/") && !sameClasses {
			ok = false
		}
		if ok && slices.Equal(f.Shape, t.Shape) {
			take[name] = f
		} else {
			take[name] = t
		}
	}
	if err := classifier.SetTensors(m, take, "from-model"); err != nil {
		return fmt.Errorf("from-model: %w", err)
	}
	return nil
}
