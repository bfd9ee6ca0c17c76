package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/datacheck"
)

func dataCheckCmd() *cobra.Command {
	format := formatTable
	var o datacheck.Options
	cmd := &cobra.Command{
		Use:   "check DIR",
		Short: "Audit class folders: per-class counts, unreadable files, exact and near-duplicates, duplicates across train/val/test",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == formatCSV {
				return fmt.Errorf("--format csv: data check writes table or json")
			}
			r, err := datacheck.Check(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if format == formatJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	formatFlag(f, &format, "output: table (for people) or json (the whole report)")
	f.IntVar(&o.Near, "near", datacheck.DefaultNear, "near-duplicate threshold: Hamming distance of 64-bit perceptual hashes (-1: off)")
	f.IntVar(&o.Workers, "workers", 0, "files read in parallel (0: one per core)")
	return cmd
}
