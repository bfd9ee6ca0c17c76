package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/adapt"
	"trashsort/classifier"
	"trashsort/data"
)

func init() { register(adaptCmd) }

func adaptCmd() *cobra.Command {
	var modelPath, photos, out string
	var batch int
	cmd := &cobra.Command{
		Use:   "adapt",
		Short: "Adapt a model to a site from unlabelled photos taken there (BatchNorm statistics, AdaBN)",
		Long: `Re-estimates the BatchNormalization statistics of the model on photos from the
site where it will sort (any folder layout; labels, if any, are not read), so that
its features are normalized for that site's surfaces and light. No weight is
learned; the same photos give the same model. The model file records what it was
adapted on. Use a few hundred photos of the site's usual waste.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			ds, err := data.FromPhotos(photos)
			if err != nil {
				return err
			}
			res, err := adapt.BatchNorm(cmd.Context(), clf, ds, adapt.Options{Batch: batch})
			if err != nil {
				return err
			}
			if err := clf.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "adapted %d BatchNorm layers on %d photos (%d unreadable)\nmodel: %s\n", res.Layers, res.Photos, res.Skipped, out)
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&photos, "photos", "", "folder of the site's photos (unlabelled; any layout)")
	f.StringVarP(&out, "output", "o", "", "model file to write (may be --model itself)")
	f.IntVar(&batch, "batch", 16, "photos per pass")
	cmd.MarkFlagRequired("photos")
	cmd.MarkFlagRequired("output")
	return cmd
}
