package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"trashsort/adapt"
	"trashsort/classifier"
	"trashsort/data"
)

func init() { register(adaptCmd) }

func adaptCmd() *cobra.Command {
	var modelPath, photos, out, method, source string
	var batch, epochs int
	var lr float64
	cmd := &cobra.Command{
		Use:   "adapt",
		Short: "Adapt a model to a site from unlabelled photos taken there (feature alignment, AdaBN or TENT)",
		Long: `Adapts the model to the site where it will sort from photos taken there (any
folder layout; labels, if any, are not read). The same photos give the same
model, and the model file records what it was adapted on. Use a few hundred
photos of the site's usual waste.

--method align (the default) standardizes each channel of the pooled features
to its mean and spread on the site's photos and gives it those of the images the
model was trained for (stored in the model by train, or computed from --source
DIR for a model that lacks them), folded into the head's first layer; the
backbone is untouched.

--method adabn re-estimates the BatchNormalization statistics on the photos
instead, so that the backbone's features are normalized for that site's
surfaces and light; no weight is learned.

--method tent also learns the BatchNorm scales and shifts (and nothing else) by
making the model's predictions on the photos more confident (entropy
minimization, Wang et al. 2021), for --epochs passes at --lr, then estimates the
statistics again.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			ds, err := data.FromPhotos(photos)
			if err != nil {
				return err
			}
			if batch < 1 || epochs < 1 || !(lr > 0) || math.IsInf(lr, 0) {
				return fmt.Errorf("--batch %d, --epochs %d, --lr %g: want positive values", batch, epochs, lr)
			}
			o := adapt.Options{Batch: batch, Epochs: epochs, LR: lr}
			var src *data.Dataset
			if source != "" {
				if method != "align" {
					return fmt.Errorf("--source is for --method align")
				}
				if src, err = data.FromPhotos(source); err != nil {
					return fmt.Errorf("--source: %w", err)
				}
			}
			var res *adapt.Result
			what := "BatchNorm layers"
			switch method {
			case "align":
				res, err = adapt.Align(cmd.Context(), clf, ds, src, o)
				if errors.Is(err, adapt.ErrNoSourceFeatures) {
					return fmt.Errorf("%s stores no statistics of its training images' features (trained by an earlier version): add --source with images it was trained on (e.g. datasets/trashnet/val), or use --method adabn", modelPath)
				}
				what = "dense layer"
			case "adabn":
				res, err = adapt.BatchNorm(cmd.Context(), clf, ds, o)
			case "tent":
				res, err = adapt.Entropy(cmd.Context(), clf, ds, o)
			default:
				return fmt.Errorf("--method %q: want align, adabn or tent", method)
			}
			if err != nil {
				return err
			}
			if err := clf.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "adapted %d %s (%s) on %d photos (%d unreadable)\nmodel: %s\n", res.Layers, what, method, res.Photos, res.Skipped, out)
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&photos, "photos", "", "folder of the site's photos (unlabelled; any layout)")
	f.StringVarP(&out, "output", "o", "", "model file to write (may be --model itself)")
	f.IntVar(&batch, "batch", 16, "photos per pass")
	f.StringVar(&method, "method", "align", "align: the pooled features' per-channel statistics to the training images' (the head's first layer); adabn: BatchNorm statistics only; tent: also the BatchNorm scales and shifts, by entropy minimization")
	f.StringVar(&source, "source", "", "for --method align with a model that stores no feature statistics: a folder of the images it was trained on (any layout)")
	f.IntVar(&epochs, "epochs", 1, "passes over the photos for --method tent")
	f.Float64Var(&lr, "lr", adapt.DefaultEntropyLR, "SGD learning rate (momentum 0.9) for --method tent")
	cmd.MarkFlagRequired("photos")
	cmd.MarkFlagRequired("output")
	return cmd
}
