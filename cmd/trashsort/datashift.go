package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/data"
)

func dataShiftCmd() *cobra.Command {
	var out string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "shift DIR",
		Short: "Write a shifted copy of class folders: items on tiled floors under colour casts and uneven light (a robustness check)",
		Long: `Writes every photo of DIR's class folders to --out with its item cut from the board
and put on a tiled floor, under a colour cast, a darker exposure, a light gradient
and a shadow: backgrounds and lighting that training's augmentation never draws.
Score a model on it with 'trashsort eval --data OUT' to see how it holds up off
TrashNet's white board. The same photos and --seed give the same files.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := data.FromFolder(args[0], nil)
			if err != nil {
				return err
			}
			n, err := data.WriteShifted(cmd.Context(), ds, out, seed)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d shifted photos in %s\n", n, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "folder to write the class folders into")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the backgrounds and lighting")
	cmd.MarkFlagRequired("out")
	return cmd
}
