package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/dnnl"
	"trashsort/evaluate"
	"trashsort/models"
	"trashsort/safetensors"
	"trashsort/train"
	"trashsort/weights"
)

func init() { register(trainCmd, dataCmd) }

// trainFlags are the flags shared by train and run.
type trainFlags struct {
	cfg          train.Config
	extra        []string
	dataDirs     []string
	dataWeights  []string
	trainDir     string
	valDir       string
	valSplit     float64
	images       string
	trainList    string
	valList      string
	listLabels   string
	weightsPath  string
	maps         []string
	rescale      string
	brightness   string
	cropScale    string
	aug          data.Augment
	noAugment    bool
	units        int
	dropout      float64
	cacheDefault int
	recipe       string
	members      int
	featuresPlan string
	tta          bool
	timeBudget   time.Duration // run only: 0 trains the preset as it is
}

// applyRecipe applies the preset (train.Recipe) to the flags' values and
// then puts back every flag the user set: explicit flags win. The preset's
// test sizes belong to its own size, so another --size drops them.
func (f *trainFlags) applyRecipe(fs *pflag.FlagSet) error {
	r, err := train.RecipeNamed(f.recipe)
	if err != nil {
		return fmt.Errorf("--recipe: %w", err)
	}
	type setting struct {
		flag  *pflag.Flag
		value string
		slice []string
	}
	var user []setting
	fs.Visit(func(fl *pflag.Flag) {
		if fl.Deprecated != "" {
			return // its twin holds the value; setting it again would warn again
		}
		s := setting{flag: fl, value: fl.Value.String()}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			s.slice = sv.GetSlice()
		}
		user = append(user, s)
	})
	c := f.cfg
	aug := f.aug
	c.Augment, c.Head = &aug, classifier.Head{Units: f.units, Dropout: f.dropout}
	r.Apply(&c)
	if fs.Changed("size") && !fs.Changed("test-sizes") {
		c.TestSizes = nil
	}
	f.aug, f.units, f.dropout = aug, c.Head.Units, c.Head.Dropout
	c.Augment, c.Head = nil, classifier.Head{}
	f.cfg = c
	if !fs.Changed("members") {
		f.members = r.Members
	}
	for _, s := range user {
		var err error
		if sv, ok := s.flag.Value.(pflag.SliceValue); ok {
			err = sv.Replace(s.slice)
		} else {
			err = s.flag.Value.Set(s.value)
		}
		if err != nil {
			return fmt.Errorf("--%s: %w", s.flag.Name, err)
		}
	}
	return nil
}

// recipeHelp lists the presets for --recipe's help.
func recipeHelp() string {
	var parts []string
	for _, r := range train.Recipes() {
		parts = append(parts, r.Name+": "+r.Summary)
	}
	return strings.Join(parts, "; ") + " (see docs/TRAINING.md)"
}

func (f *trainFlags) register(fs *pflag.FlagSet) {
	c := &f.cfg
	fs.StringVar(&f.recipe, "recipe", f.recipe, recipeHelp())
	fs.IntVar(&f.members, "members", 1, "train N models with seeds --seed, --seed+1, ... (files --out, then -2, -3, ... before the extension) for an ensemble")
	fs.StringArrayVar(&f.dataDirs, "data", nil, "dataset folder with train/ and val/ class folders (default $TRASHSORT_DATA, else "+defaultDataDir+", fetched if absent); repeat to train on several at once, e.g. TrashNet and a site's own labelled photos (a folder without train/ is split 80/20 per class)")
	fs.StringArrayVar(&f.dataWeights, "data-weight", nil, "DIR=W: draw each image of --data DIR W times as often as an image of weight 1 (repeatable; default 1)")
	fs.StringArrayVar(&f.extra, "extra", nil, "more training images in class folders, e.g. the service's --corrections folder (repeatable)")
	fs.StringArrayVar(&f.maps, "map", nil, "JSON file mapping --train's and --val's folders to classes (null: left out), e.g. a site's own folder names; the classes are --from-model's, else the mapping's; DIR=FILE maps the folders of --data DIR (repeatable)")
	fs.StringVar(&f.trainDir, "train", "", "training class folders (overrides --data)")
	fs.StringVar(&f.valDir, "val", "", "validation class folders (overrides --data)")
	fs.Float64Var(&f.valSplit, "val-split", 0, "hold out this fraction of the training folders for validation instead (seeded)")
	fs.StringVar(&f.images, "images", "", "image folder for --train-list and --val-list (files directly in it or in <class>/)")
	fs.StringVar(&f.trainList, "train-list", "", "split list of \"<file> <label>\" lines for training (TrashNet's format)")
	fs.StringVar(&f.valList, "val-list", "", "split list for validation")
	fs.StringVar(&f.listLabels, "list-labels", "glass,paper,cardboard,plastic,metal,trash", "class names of list labels 1, 2, ... (TrashNet's by default)")
	backboneFlag(fs, &c.Backbone)
	fs.StringVar(&c.FromModel, "from-model", "", "start from this trained model file (its backbone, size and head; the output layer afresh when the classes differ) to fine-tune it on a site's labelled photos")
	fs.BoolVar(&c.Imprint, "imprint", false, "set the head from the class means of the photos' features before any epoch (nearest class mean: better than a fitted head with a few photos a class); with --epochs1 0 --epochs2 0 the head is the means")
	fs.StringVar(&f.weightsPath, "weights", "", "backbone weight file or folder (default $"+weights.EnvVar+", the cache, or a download); "+randomWeights+" starts from random weights")
	fs.IntVar(&c.Size, "size", 224, "input size (flow_from_directory's target_size)")
	fs.IntSliceVar(&c.TestSizes, "test-sizes", nil, "input sizes whose predictions the saved model averages, e.g. 299,331,363 (multi-scale testing; timm's test_input_size for one size); default --size alone")
	fs.IntVar(&c.Batch, "batch", 32, "batch size")
	fs.IntVar(&f.units, "units", 1024, "width of the head's Dense(relu) layer")
	fs.Float64Var(&f.dropout, "dropout", 0, "dropout before the output layer (0: none, as in the seed recipe)")
	fs.IntVar(&c.Epochs1, "epochs1", 3, "stage one epochs: head only, base frozen (the seed recipe used 1)")
	fs.StringVar(&c.Optimizer1, "optimizer1", "rmsprop", "stage one optimizer: rmsprop, adam or sgd")
	fs.Float64Var(&c.LR1, "lr1", 1e-3, "stage one learning rate (Keras RMSprop default)")
	fs.IntVar(&c.Epochs2, "epochs2", 10, "stage two epochs: fine-tune from --unfreeze-from")
	fs.StringVar(&c.UnfreezeFrom, "unfreeze-from", "", "first layer trained in stage two: an index (249) or a name (mixed9, conv2d_81); default the backbone's top blocks")
	fs.Float64Var(&c.LR2, "lr2", 1e-4, "stage two SGD learning rate")
	fs.Float64Var(&c.Momentum2, "momentum", 0.9, "stage two SGD momentum")
	fs.StringVar(&c.Optimizer2, "optimizer2", "sgd", "stage two optimizer: sgd, nesterov, adam or rmsprop")
	fs.Float64Var(&c.Warmup, "warmup", 0, "stage two linear warm-up, in epochs (timm --warmup-epochs)")
	fs.Float64Var(&c.WeightDecay, "weight-decay", 0, "decoupled weight decay on kernels: w -= lr*wd*w each step (Keras 3 weight_decay, AdamW)")
	fs.Float64Var(&c.EMA, "ema", 0, "keep an exponential moving average of the weights with this decay (e.g. 0.998) and validate and save it (timm --model-ema)")
	fs.BoolVar(&c.FinalFit, "final-fit", false, "train on train+val together with the chosen schedule and keep the last epoch (no validation number of its own)")
	fs.Float64Var(&c.Mixup, "mixup", 0, "mixup alpha: mix each batch with a permutation of itself, lam ~ Beta(alpha, alpha) (timm --mixup, fastai MixUp); on cached activations it is manifold mixup")
	fs.Float64Var(&f.aug.ShearRange, "shear", 0.2, "shear_range in degrees, as ImageDataGenerator (the seed's 0.2)")
	fs.Float64Var(&f.aug.ZoomRange, "zoom", 0.2, "zoom_range z: factors in [1-z, 1+z] per axis")
	fs.BoolVar(&f.aug.HorizontalFlip, "hflip", true, "horizontal_flip")
	fs.BoolVar(&f.aug.VerticalFlip, "vflip", false, "vertical_flip")
	fs.Float64Var(&f.aug.RotationRange, "rotation", 0, "rotation_range in degrees")
	fs.Float64Var(&f.aug.WidthShiftRange, "width-shift", 0, "width_shift_range (fraction, or pixels if >= 1)")
	fs.Float64Var(&f.aug.HeightShiftRange, "height-shift", 0, "height_shift_range (fraction, or pixels if >= 1)")
	fs.StringVar(&f.brightness, "brightness", "", "brightness_range as lo,hi (e.g. 0.8,1.2)")
	fs.StringVar(&f.cropScale, "crop-scale", "", "random resized crop: area fraction range lo,hi (e.g. 0.35,1; torchvision/fastai RandomResizedCrop), aspect ratio in [3/4, 4/3]")
	fs.Float64Var(&f.aug.Contrast, "contrast", 0, "contrast jitter c: factor ~ U(1-c, 1+c) (torchvision ColorJitter contrast)")
	fs.Float64Var(&f.aug.Saturation, "saturation", 0, "saturation jitter s: factor ~ U(1-s, 1+s) (torchvision ColorJitter saturation)")
	fs.Float64Var(&f.aug.Erasing, "erasing", 0, "random erasing probability (timm --reprob, torchvision RandomErasing)")
	fs.Float64Var(&f.aug.Background, "background", 0, "probability of taking the item off its board and compositing it, with a soft shadow, onto a new background (generated, or from --backgrounds)")
	fs.StringVar(&f.aug.Backgrounds, "backgrounds", "", "folder of background photos (floors, counters, bins) for --background; half of the composites use them")
	fs.Float64Var(&f.aug.Hue, "hue", 0, "hue jitter h: turn the hue by U(-h, h) of a full turn, h <= 0.5 (torchvision ColorJitter hue)")
	fs.Float64Var(&f.aug.Greyscale, "greyscale", 0, "probability of a grey image (torchvision RandomGrayscale)")
	fs.Float64Var(&f.aug.Illumination, "illumination", 0, "illumination ramp g: light falling off from one side, factors 1-a .. 1+a with a ~ U(0, g)")
	fs.Float64Var(&f.aug.Blur, "blur", 0, "probability of a Gaussian blur, sigma ~ U(0.1, 2) px (torchvision GaussianBlur)")
	fs.Float64Var(&f.aug.JPEG, "jpeg", 0, "probability of JPEG re-compression at quality 30-90")
	fs.StringVar(&f.aug.FillMode, "fill-mode", "nearest", "fill_mode: nearest, constant, reflect or wrap")
	fs.BoolVar(&f.noAugment, "no-augment", false, "turn augmentation off")
	fs.StringVar(&f.rescale, "rescale", "", "use x*rescale (e.g. 1/255, the seed's) instead of the backbone's preprocessing")
	fs.StringVar(&c.Resize, "resize", "bilinear", "resize filter: bilinear or nearest (flow_from_directory's)")
	fs.IntVar(&c.CacheFeatures, "cache-features", f.cacheDefault, "run frozen layers once per augmented view for K views (0: once, unaugmented; -1: every epoch, on the fly)")
	fs.StringVar(&c.CacheAt, "cache-at", "", "layer whose output stage two's cache stores (default: just below --unfreeze-from); lower lets one cache serve several unfreeze points")
	fs.StringVar(&c.FeatureDir, "feature-cache", "", "folder that keeps cached views between runs, keyed by everything that determines them (fastai's precompute)")
	fs.StringVar(&c.Features, "features", "", "folder of precomputed feature views (trashsort-beam features over this run's --features-plan): read every cached view from it, compute none")
	fs.StringVar(&f.featuresPlan, "features-plan", "", "write the plan of this run's feature cache to this JSON file for trashsort-beam features, and train nothing")
	fs.Int64Var(&c.CacheBudget, "cache-memory", 6<<30, "bytes of memory for cached views; the rest spills to temporary files")
	fs.BoolVar(&c.BF16, "bf16", dnnl.HasBF16(), "compute cached training views in bfloat16 (default on where the CPU has AVX512_BF16)")
	fs.BoolVar(&c.TrainBF16, "bf16-train", false, "run the convolutions that train in bfloat16, forward and backward, with float32 weights, gradients and optimizer state (torch.autocast(\"cpu\", torch.bfloat16)); where the CPU has AVX512_BF16")
	fs.StringVar(&c.ClassWeight, "class-weight", "", "balanced: weigh classes by inverse frequency")
	fs.Float64Var(&c.LabelSmoothing, "label-smoothing", 0, "label smoothing")
	fs.IntVar(&c.EarlyStopping, "early-stopping", 0, "stop a stage after N epochs without val_loss improvement (0: off)")
	fs.IntVar(&c.ReducePatience, "reduce-lr", 0, "multiply the rate by --reduce-factor after N epochs without val_loss improvement (0: off)")
	fs.Float64Var(&c.ReduceFactor, "reduce-factor", 0.1, "factor for --reduce-lr")
	fs.BoolVar(&c.Cosine, "cosine", false, "cosine learning-rate decay within each stage")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed for initialization, shuffling and augmentation")
	fs.IntVar(&c.Workers, "workers", 0, "data workers (default: CPUs)")
	fs.StringVar(&c.Out, "out", "model.safetensors", "model file")
	fs.StringVar(&c.LogDir, "log-dir", "", "folder for history.csv and plots (default: beside --out)")
	fs.BoolVar(&c.Resume, "resume", false, "continue from the checkpoint beside --out")
}

// config completes the training configuration from the flags.
func (f *trainFlags) config() (train.Config, error) {
	c := f.cfg
	c.Head = classifier.Head{Units: f.units, Dropout: f.dropout}
	if !f.noAugment {
		a := f.aug
		for _, r := range []struct {
			flag, value string
			dst         *[2]float64
		}{{"brightness", f.brightness, &a.BrightnessRange}, {"crop-scale", f.cropScale, &a.CropScale}} {
			if r.value == "" {
				continue
			}
			lo, hi, ok := strings.Cut(r.value, ",")
			l, err1 := strconv.ParseFloat(lo, 64)
			h, err2 := strconv.ParseFloat(hi, 64)
			if !ok || err1 != nil || err2 != nil {
				return c, fmt.Errorf("--%s %q: want lo,hi", r.flag, r.value)
			}
			*r.dst = [2]float64{l, h}
		}
		if err := a.Validate(); err != nil {
			return c, err
		}
		c.Augment = &a
	}
	if f.rescale != "" {
		r, err := parseFraction(f.rescale)
		if err != nil {
			return c, fmt.Errorf("--rescale: %w", err)
		}
		c.Rescale = r
	}
	if c.LogDir == "" {
		c.LogDir = strings.TrimSuffix(c.Out, filepath.Ext(c.Out)) + "-logs"
	}
	return c, nil
}

func parseFraction(s string) (float64, error) {
	if n, d, ok := strings.Cut(s, "/"); ok {
		a, err1 := strconv.ParseFloat(n, 64)
		b, err2 := strconv.ParseFloat(d, 64)
		if err1 != nil || err2 != nil || b == 0 {
			return 0, fmt.Errorf("bad fraction %q", s)
		}
		return a / b, nil
	}
	return strconv.ParseFloat(s, 64)
}

// defaultDataDir is where TrashNet is fetched when no dataset is named.
const defaultDataDir = "datasets/trashnet"

// datasets resolves the training and validation sets from the flags.
func (f *trainFlags) datasets(cmd *cobra.Command) (*data.Dataset, *data.Dataset, string, error) {
	if f.trainList != "" || f.valList != "" {
		if f.images == "" || f.trainList == "" || f.valList == "" {
			return nil, nil, "", errors.New("--train-list and --val-list go together, with --images")
		}
		names := map[int]string{}
		for i, n := range strings.Split(f.listLabels, ",") {
			names[i+1] = strings.TrimSpace(n)
		}
		tr, err := data.FromSplitFile(f.images, f.trainList, names)
		if err != nil {
			return nil, nil, "", err
		}
		va, err := data.FromSplitFile(f.images, f.valList, names)
		return tr, va, f.images, err
	}
	trainDir, valDir := f.trainDir, f.valDir
	root := ""
	if trainDir == "" {
		var err error
		if root, err = resolveData(cmd, f.primaryData()); err != nil {
			return nil, nil, "", err
		}
		trainDir = filepath.Join(root, "train")
		if valDir == "" && f.valSplit == 0 {
			valDir = filepath.Join(root, "val")
		}
	}
	tr, err := data.FromFolder(trainDir, nil)
	if err != nil {
		return nil, nil, "", err
	}
	if f.valSplit > 0 {
		tr, va, err := tr.Split(f.valSplit, f.cfg.Seed)
		return tr, va, root, err
	}
	va, err := data.FromFolder(valDir, tr.Classes)
	if err != nil {
		return nil, nil, "", err
	}
	return tr, va, root, nil
}

// resolveData returns a dataset folder: the flag, $TRASHSORT_DATA, or
// defaultDataDir, downloading TrashNet there when it is absent.
func resolveData(cmd *cobra.Command, dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("TRASHSORT_DATA")
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "train")); err != nil {
			return "", fmt.Errorf("dataset %s has no train/ folder", dir)
		}
		return dir, nil
	}
	dir = defaultDataDir
	if _, err := os.Stat(filepath.Join(dir, "train")); err == nil {
		return dir, nil
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "fetching TrashNet into "+defaultDataDir+" (set TRASHSORT_DATA to use a local copy)")
	bar := newBar(-1, "trashnet")
	rep, err := data.Fetch(cmd.Context(), nil, data.TrashNet(), dir, bar.progress)
	bar.finish()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "TrashNet: %v images per split, zip sha256 %s\n", rep.Splits, rep.ZipSHA256)
	return dir, nil
}

// resolveWeights returns the backbone's weight file, "" for random weights.
func resolveWeights(cmd *cobra.Command, backbone, override string) (string, error) {
	spec, err := models.Get(backbone)
	if err != nil {
		return "", err
	}
	if override == randomWeights {
		return "", nil
	}
	p, ok, err := weights.Locate(spec, override)
	if err != nil || ok {
		return p, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "fetching %s weights (set %s to use a local copy)\n", spec.Name, weights.EnvVar)
	p, _, err = fetchWeights(cmd, spec)
	return p, err
}

// fetchWeights downloads spec's weights with a progress bar.
func fetchWeights(cmd *cobra.Command, spec models.Spec) (string, string, error) {
	bar := newBar(-1, "weights "+spec.Name)
	p, sha, err := weights.Fetch(cmd.Context(), nil, spec, bar.progress)
	bar.finish()
	return p, sha, err
}

func trainCmd() *cobra.Command {
	f := &trainFlags{cacheDefault: 3, recipe: "seed"}
	var folds int
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a classifier with the two-stage transfer-learning recipe",
		Long: `Train a classifier from class folders with the classic Keras recipe:
stage one trains GlobalAveragePooling2D + Dense(1024, relu) + Dense(N, softmax)
on the frozen backbone with RMSprop; stage two unfreezes the top of the
backbone (InceptionV3: layers[249:], mixed9 and mixed10; each backbone
names its own, see 'trashsort layers') and trains with SGD(1e-4, momentum
0.9). The best epoch (validation accuracy) is saved. train uses the seed
recipe's settings (--recipe seed) unless told otherwise.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if folds > 0 {
				return crossValidate(cmd, f, folds)
			}
			_, paths, err := runTraining(cmd, f)
			if err == nil && len(paths) > 1 {
				fmt.Fprintf(cmd.OutOrStdout(), "ensemble: --model %s\n", strings.Join(paths, ","))
			}
			return err
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().IntVar(&folds, "folds", 0, "instead of training one model, report the mean and spread of accuracy over K stratified folds of --train (train on K-1, score the rest): what labelling a small folder buys")
	groupFlags(cmd, trainFlagGroups)
	return cmd
}

// crossValidate is train --folds: the settings of f over k folds of --train.
func crossValidate(cmd *cobra.Command, f *trainFlags, k int) error {
	if err := f.applyRecipe(cmd.Flags()); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	tr, _, err := f.trainingSets(cmd, &cfg)
	if err != nil {
		return err
	}
	w := ""
	if cfg.FromModel == "" {
		if w, err = resolveWeights(cmd, cfg.Backbone, f.weightsPath); err != nil {
			return err
		}
	}
	cfg.Progress = cmd.ErrOrStderr()
	folds, mean, sd, err := train.CrossValidate(cmd.Context(), cfg, tr, k, w, func(ctx context.Context, clf *classifier.Classifier, test *data.Dataset) (float64, error) {
		r, err := evaluate.Run(ctx, clf, test, evaluate.Options{Batch: cfg.Batch})
		if err != nil {
			return 0, err
		}
		return r.Accuracy, nil
	})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	for i, fd := range folds {
		fmt.Fprintf(out, "fold %d of %d: trained on %d, scored %d: accuracy %.4f\n", i+1, k, len(fd.Train.Items), len(fd.Test.Items), fd.Score)
	}
	fmt.Fprintf(out, "accuracy over %d folds: %.4f ± %.4f\n", k, mean, sd)
	return nil
}

// runTraining trains the model, or each member of an ensemble (--members),
// and returns the results in order with the model files.
func runTraining(cmd *cobra.Command, f *trainFlags) ([]*train.Result, []string, error) {
	if err := f.applyRecipe(cmd.Flags()); err != nil {
		return nil, nil, err
	}
	if f.members < 1 {
		return nil, nil, fmt.Errorf("--members %d: want at least 1", f.members)
	}
	if f.timeBudget < 0 {
		return nil, nil, fmt.Errorf("--time-budget %v: want a positive duration, or 0 for the preset as it is", f.timeBudget)
	}
	cfg, err := f.config()
	if err != nil {
		return nil, nil, err
	}
	tr, va, err := f.trainingSets(cmd, &cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, dir := range f.extra {
		n, err := tr.AddFolder(dir)
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "extra: %d training images from %s\n", n, dir)
	}
	if f.timeBudget > 0 && cfg.FromModel == "" {
		if err := f.fitBudget(cmd.ErrOrStderr(), cmd.Flags(), &cfg, tr, va); err != nil {
			return nil, nil, err
		}
	}
	w := ""
	if cfg.FromModel == "" {
		if w, err = resolveWeights(cmd, cfg.Backbone, f.weightsPath); err != nil {
			return nil, nil, err
		}
	}
	out := cmd.ErrOrStderr()
	fmt.Fprintf(out, "train: %s\nval:   %s\n", tr.Describe(), va.Describe())
	if f.featuresPlan != "" {
		return nil, nil, writeFeaturesPlan(cmd, f.featuresPlan, cfg, tr, va, w)
	}
	cfg.Progress = out
	var paths []string
	results, err := train.FitMembers(cmd.Context(), cfg, f.members, tr, va, w, func(i int, mc train.Config, res *train.Result) {
		if res == nil {
			if f.members > 1 {
				fmt.Fprintf(out, "member %d of %d: seed %d, %s\n", i+1, f.members, mc.Seed, mc.Out)
			}
			paths = append(paths, mc.Out)
			return
		}
		fmt.Fprintf(cmd.OutOrStdout(), "best val accuracy %.4f at epoch %d; %d epochs in %v (features %.0fs)\n",
			res.Best.ValAcc, res.Best.Epoch, len(res.History), res.Wall.Round(1e9), res.FeatureSeconds)
		for o, acc := range res.Best.ValAccByOrigin {
			fmt.Fprintf(cmd.OutOrStdout(), "  val accuracy on %s: %.4f (%d images)\n", va.Origins[o].Name, acc, len(va.FromOrigin(o).Items))
		}
		fmt.Fprintf(cmd.OutOrStdout(), "model: %s\nlogs:  %s\n", mc.Out, mc.LogDir)
	})
	if errors.Is(err, train.ErrStopped) {
		fmt.Fprintf(out, "stopped; the checkpoint is in %s.ckpt: rerun with --resume\n", paths[len(paths)-1])
	}
	if err != nil {
		return nil, nil, err
	}
	return results, paths, nil
}

func dataCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "data", Short: "Manage datasets"}
	var dir string
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Download TrashNet and write DIR/{train,val,test}/<class>/ with the official split",
		RunE: func(cmd *cobra.Command, args []string) error {
			bar := newBar(-1, "trashnet")
			rep, err := data.Fetch(cmd.Context(), nil, data.TrashNet(), dir, bar.progress)
			bar.finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %v images; zip sha256 %s\n", dir, rep.Splits, rep.ZipSHA256)
			return nil
		},
	}
	fetch.Flags().StringVar(&dir, "dir", defaultDataDir, "destination folder")
	cmd.AddCommand(fetch, dataCheckCmd(), dataShiftCmd())
	return cmd
}

// primaryData is the first --data folder ("" for none).
func (f *trainFlags) primaryData() string {
	if len(f.dataDirs) == 0 {
		return ""
	}
	return f.dataDirs[0]
}

// perData parses repeated DIR=VALUE flags whose DIR is one of --data's
// folders; the values without such a prefix are returned apart.
func (f *trainFlags) perData(flag string, vals []string) (map[string]string, []string, error) {
	by := map[string]string{}
	var plain []string
	for _, v := range vals {
		dir, val, ok := strings.Cut(v, "=")
		if !ok || !slices.Contains(f.dataDirs, dir) {
			if flag == "map" {
				plain = append(plain, v)
				continue
			}
			return nil, nil, fmt.Errorf("--%s %q: want DIR=VALUE with DIR one of --data's folders (%s)", flag, v, strings.Join(f.dataDirs, ", "))
		}
		if _, dup := by[dir]; dup {
			return nil, nil, fmt.Errorf("--%s: %s named twice", flag, dir)
		}
		by[dir] = val
	}
	return by, plain, nil
}

// trainingSets resolves the training and validation sets from the flags:
// --train/--val through a mapping, or the --data folders, combined when
// there are several (cfg.FinalFit is set for a mapped folder too small to
// hold some out).
func (f *trainFlags) trainingSets(cmd *cobra.Command, cfg *train.Config) (*data.Dataset, *data.Dataset, error) {
	mapFiles, plain, err := f.perData("map", f.maps)
	if err != nil {
		return nil, nil, err
	}
	weights, _, err := f.perData("data-weight", f.dataWeights)
	if err != nil {
		return nil, nil, err
	}
	if len(plain) > 1 {
		return nil, nil, fmt.Errorf("--map: %s: only one mapping for --train and --val (DIR=FILE for the --data folders)", strings.Join(plain, ", "))
	}
	var tr, va *data.Dataset
	if len(plain) == 1 {
		tr, va, err = f.mappedDatasets(cfg.FromModel, plain[0])
		cfg.FinalFit = f.cfg.FinalFit
	} else {
		tr, va, _, err = f.datasets(cmd)
	}
	if err != nil || (len(f.dataDirs) < 2 && len(weights) == 0) {
		return tr, va, err
	}
	if _, ok := mapFiles[f.primaryData()]; ok {
		return nil, nil, fmt.Errorf("--map %s=...: the first --data folder sets the classes; map the others", f.primaryData())
	}
	name := f.primaryData()
	if name == "" {
		name = tr.Root
	}
	w0, err := parseWeight(weights[f.primaryData()])
	if err != nil {
		return nil, nil, err
	}
	trParts := []data.Part{{Name: name, Weight: w0, Set: tr}}
	vaParts := []data.Part{{Name: name, Set: va}}
	for _, dir := range f.dataDirs[1:] {
		w, err := parseWeight(weights[dir])
		if err != nil {
			return nil, nil, err
		}
		var m data.Mapping
		if p, ok := mapFiles[dir]; ok {
			if m, err = data.ReadMapping(p); err != nil {
				return nil, nil, err
			}
		}
		dtr, dva, err := siteSplit(dir, tr.Classes, m, cfg.Seed)
		if err != nil {
			return nil, nil, err
		}
		trParts = append(trParts, data.Part{Name: dir, Weight: w, Set: dtr})
		if len(dva.Items) > 0 {
			vaParts = append(vaParts, data.Part{Name: dir, Set: dva})
		}
	}
	if tr, err = data.Combine(trParts...); err != nil {
		return nil, nil, err
	}
	if va, err = data.Combine(vaParts...); err != nil {
		return nil, nil, err
	}
	return tr, va, nil
}

// parseWeight reads a --data-weight value ("" is 1).
func parseWeight(s string) (float64, error) {
	if s == "" {
		return 1, nil
	}
	w, err := strconv.ParseFloat(s, 64)
	if err != nil || !(w > 0) || math.IsInf(w, 0) {
		return 0, fmt.Errorf("--data-weight: %q is not a positive number", s)
	}
	return w, nil
}

// siteSplit reads one more --data folder against classes: its train/ and
// val/ when it has them, else its class folders split 80/20 per class.
// Folders are mapped by m (or must be class names); a class may be absent.
func siteSplit(dir string, classes []string, m data.Mapping, seed uint64) (*data.Dataset, *data.Dataset, error) {
	if _, err := os.Stat(filepath.Join(dir, "train")); err == nil {
		tr, err := data.FromSite(filepath.Join(dir, "train"), classes, m)
		if err != nil {
			return nil, nil, err
		}
		va := &data.Dataset{Root: filepath.Join(dir, "val"), Classes: classes}
		if _, err := os.Stat(va.Root); err == nil {
			s, err := data.FromSite(va.Root, classes, m)
			if err != nil {
				return nil, nil, err
			}
			va = s.Known
		}
		return tr.Known, va, nil
	}
	s, err := data.FromSite(dir, classes, m)
	if err != nil {
		return nil, nil, err
	}
	return s.Known.StratifiedSplit(0.2, seed)
}

// mappedDatasets reads --train and --val through the mapping file
// mapPath, with the classes of the model file fromModel, or else the
// mapping's classes.
func (f *trainFlags) mappedDatasets(fromModel, mapPath string) (*data.Dataset, *data.Dataset, error) {
	if f.trainDir == "" {
		return nil, nil, fmt.Errorf("--map reads --train (and --val): give --train")
	}
	m, err := data.ReadMapping(mapPath)
	if err != nil {
		return nil, nil, err
	}
	var classes []string
	if fromModel != "" {
		// Only the metadata: Fit loads the weights.
		f, err := safetensors.Open(fromModel)
		if err != nil {
			return nil, nil, fmt.Errorf("--from-model: %w", err)
		}
		meta, err := classifier.ParseMeta(f.Meta, fromModel)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("--from-model: %w", err)
		}
		classes = meta.Classes
	} else {
		classes = m.Classes()
	}
	var sets []*data.Dataset
	for _, dir := range []string{f.trainDir, f.valDir} {
		if dir == "" {
			continue
		}
		s, err := data.FromSite(dir, classes, m)
		if err != nil {
			return nil, nil, err
		}
		sets = append(sets, s.Known)
	}
	if len(sets) == 1 {
		// A few labelled photos are too few to hold some out: train on
		// them all and keep the last epoch (a final fit).
		f.cfg.FinalFit = true
		return sets[0], sets[0], nil
	}
	return sets[0], sets[1], nil
}
