package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/evaluate"
	"trashsort/predict"
)

func init() { register(runCmd) }

func runCmd() *cobra.Command {
	f := &trainFlags{cacheDefault: 3, recipe: "tuned"}
	var outDir string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "The whole job with the tuned preset: get data and weights, train, evaluate, report",
		Long: `Run the whole job on TrashNet with InceptionV3 and the tuned preset
(--recipe tuned: InceptionV3 at its native 299 px, 8 head epochs, then 8
epochs fine-tuning mixed8-mixed10 with SGD 1e-3 in mixed precision, 4 cached
augmented views, dropout, label smoothing, mixup and a moving average of the
weights, predicting at 299, 331 and 363 px;
--recipe fast the same at 235 px with 2 views, predicting at 235 px, in
half the time; --recipe max trains tuned three times with consecutive
seeds as an ensemble; --recipe seed for the classic Keras recipe):
fetch the dataset (or use $TRASHSORT_DATA) and the ImageNet weights (or use
$TRASHSORT_WEIGHTS), train both stages, evaluate on the test split (or on
validation when there is none), and print where the model and report are.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("out") {
				f.cfg.Out = filepath.Join(outDir, "model.safetensors")
			}
			results, paths, err := runTraining(cmd, f)
			if err != nil {
				return err
			}
			clf := results[0].Classifier
			if len(paths) > 1 {
				if clf, err = classifier.LoadEnsemble(paths...); err != nil {
					return err
				}
			}
			root := f.primaryData()
			if root == "" {
				root = os.Getenv("TRASHSORT_DATA")
			}
			if root == "" {
				root = defaultDataDir
			}
			split := filepath.Join(root, "test")
			if _, err := os.Stat(split); err != nil || f.trainDir != "" {
				split = f.valDir
				if split == "" {
					split = filepath.Join(root, "val")
				}
			}
			ds, err := data.FromFolder(split, clf.Meta.Classes)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "evaluating on %s\n", split)
			heldOut := split == filepath.Join(root, "test")
			if f.cfg.FinalFit && !heldOut {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: --final-fit trained on %s too, so this is not a held-out figure\n", split)
			}
			// Training calibrated on val at the training size; a model that
			// predicts at other sizes is refit on val's predictions at them
			// (never on a test split).
			sizes := clf.TestSizes()
			otherSizes := len(sizes) > 1 || sizes[0] != clf.Meta.Size
			refit := len(paths) == 1 && !f.tta && !heldOut && otherSizes
			opts := evaluate.Options{Batch: f.cfg.Batch, TTA: f.tta}
			pr, err := predict.Dataset(cmd.Context(), clf, ds, predict.Options{Batch: opts.Batch, TTA: opts.TTA})
			if err != nil {
				return err
			}
			if refit {
				c, err := clf.Recalibrate(pr.Probs, pr.Labels, 0)
				if err != nil {
					return fmt.Errorf("refitting the calibration on %s: %w", split, err)
				}
				if err := clf.Save(f.cfg.Out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "calibration refit on %s at test sizes %s: temperature %.3f, ECE %.4f -> %.4f; unsure below %.3f\n",
					filepath.Base(split), joinInts(sizes), c.Temperature, c.ECEBefore, c.ECEAfter, c.MinConfidence)
			}
			r, err := evaluate.Score(cmd.Context(), clf, ds, pr, opts)
			if err != nil {
				return err
			}
			model := strings.Join(paths, ",")
			r.Model = model
			reportDir := filepath.Join(filepath.Dir(f.cfg.Out), "report")
			if err := writeReport(cmd, r, reportDir, formatTable); err != nil {
				return err
			}
			if len(paths) > 1 {
				flip := ""
				if f.tta {
					flip = " with the flip"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "\nensemble of %d %s models (%s accuracy %.2f%%%s)\nreport: %s\nserve:  trashsort serve --model %s\n",
					len(paths), clf.Meta.Backbone, filepath.Base(split), 100*r.Accuracy, flip, reportDir, model)
				return nil
			}
			acc := fmt.Sprintf("val accuracy %.2f%%", 100*clf.Meta.Summary.ValAccuracy)
			if otherSizes {
				acc = fmt.Sprintf("%s accuracy %.2f%% at test sizes %s; %.2f%% at %d px in training", filepath.Base(split), 100*r.Accuracy, joinInts(sizes), 100*clf.Meta.Summary.ValAccuracy, clf.Meta.Size)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nmodel:  %s (%s, %s)\nreport: %s\nserve:  trashsort serve --model %s\n",
				f.cfg.Out, clf.Meta.Backbone, acc, reportDir, f.cfg.Out)
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&outDir, "out-dir", "out", "folder for the model, logs and report")
	cmd.Flags().DurationVar(&f.timeBudget, "time-budget", defaultTimeBudget, "wall time the job should fit: run measures this machine's throughput in a few batches and takes the largest plan of the preset (size, views, epochs, test sizes) estimated to finish within it, and prints what it chose (0: the preset as it is; --size, --cache-features, --epochs1, --epochs2 or --test-sizes given explicitly: as given)")
	cmd.Flags().BoolVar(&f.tta, "tta", false, "evaluate with test-time augmentation (the mean with the horizontal flip)")
	out := cmd.Flags().Lookup("out")
	out.Usage, out.DefValue = "model file (default: model.safetensors in --out-dir)", ""
	groupFlags(cmd, trainFlagGroups)
	return cmd
}

// joinInts formats sizes as a comma-separated list, as --test-sizes takes them.
func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}
