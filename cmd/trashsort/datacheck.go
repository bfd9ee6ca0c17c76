package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"trashsort/datacheck"
)

func dataCheckCmd() *cobra.Command {
	var asJSON bool
	var o datacheck.Options
	cmd := &cobra.Command{
		Use:   "check DIR",
		Short: "Audit class folders: per-class counts, unreadable files, exact and near-duplicates, duplicates across train/val/test",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := datacheck.Check(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.IntVar(&o.Near, "near", datacheck.DefaultNear, "near-duplicate threshold: Hamming distance of 64-bit perceptual hashes (-1: off)")
	f.IntVar(&o.Workers, "workers", 0, "files read in parallel (0: one per core)")
	return cmd
}
