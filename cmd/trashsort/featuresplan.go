package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/data"
	"trashsort/train"
)

// writeFeaturesPlan writes train --features-plan's file: the feature cache
// this run would compute, for trashsort-beam features.
func writeFeaturesPlan(cmd *cobra.Command, path string, cfg train.Config, tr, va *data.Dataset, weights string) error {
	plan, err := train.PlanFeatures(cmd.Context(), cfg, tr, va, weights)
	if err != nil {
		return err
	}
	if err := plan.Write(path); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "feature plan: %s (%d pieces of 8 batches); compute it with trashsort-beam features --plan %s --output DIR, then train with the same flags and --features DIR\n",
		path, len(plan.Jobs(0)), path)
	return nil
}
