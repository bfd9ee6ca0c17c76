package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/evaluate"
	"trashsort/predict"
)

func init() { register(calibrateCmd) }

func calibrateCmd() *cobra.Command {
	var modelPath, out, openSetFit string
	var dataDirs []string
	var target float64
	var batch int
	cmd := &cobra.Command{
		Use:   "calibrate",
		Short: "Fit the temperature and the \"unsure\" threshold on held-out class folders and store them in the model",
		Long: `Training does this on its validation split; calibrate redoes it for a model file
trained before, or on other held-out data: temperature scaling fitted by the NLL, and
the lowest confidence threshold at which the answered images reach --target accuracy
(answering at least half of them). Writes the model with its calibration to -o.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			ds, err := data.FromFolder(dataDirs[0], clf.Meta.Classes)
			if err != nil {
				return err
			}
			for _, dir := range dataDirs[1:] {
				more, err := data.FromFolder(dir, clf.Meta.Classes)
				if err != nil {
					return err
				}
				ds.Items = append(ds.Items, more.Items...)
			}
			pr, err := predict.Dataset(cmd.Context(), clf, ds, predict.Options{Batch: batch})
			if err != nil {
				return err
			}
			c, err := clf.Recalibrate(pr.Probs, pr.Labels, target)
			if err != nil {
				return err
			}
			if openSetFit != "" {
				fit, err := data.FromFolder(openSetFit, clf.Meta.Classes)
				if err != nil {
					return fmt.Errorf("--openset-fit: %w", err)
				}
				if err := evaluate.FitOpenSet(cmd.Context(), clf, fit, ds, 0, evaluate.Options{Batch: batch}); err != nil {
					return err
				}
				o := clf.Meta.OpenSet
				fmt.Fprintf(cmd.OutOrStdout(), "open set: Mahalanobis on %d images of %s; threshold %.1f keeps %.0f%% of the %d held-out images\n", o.FitImages, openSetFit, o.Threshold, 100*o.TPR, o.HeldOutImages)
			}
			if err := clf.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d images: temperature %.3f, ECE %.4f -> %.4f; unsure below %.3f: answers %.1f%% at %.2f%% accuracy\nmodel: %s\n",
				c.Images, c.Temperature, c.ECEBefore, c.ECEAfter, c.MinConfidence, 100*c.Coverage, 100*c.AnsweredAccuracy, out)
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringArrayVar(&dataDirs, "data", nil, "held-out class folders (e.g. datasets/trashnet/val); repeat to calibrate on several together, e.g. val and its shifted copy ('trashsort data shift'), so that the temperature is not fitted to clean photos alone")
	f.StringVarP(&out, "output", "o", "", "model file to write (may be --model itself)")
	f.Float64Var(&target, "target", calibrate.DefaultTargetAccuracy, "accuracy on the answered images that the threshold aims for")
	f.IntVar(&batch, "batch", 32, "batch size")
	f.StringVar(&openSetFit, "openset-fit", "", "also fit the \"none of my classes\" detector: class Gaussians of the pooled features of these class folders (the training split), its threshold keeping 95% of --data's images")
	cmd.MarkFlagRequired("data")
	cmd.MarkFlagRequired("output")
	return cmd
}
