package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"trashsort/models"
	"trashsort/weights"
)

func init() { register(layersCmd, weightsCmd) }

func layersCmd() *cobra.Command {
	var backbone, weightsPath string
	var size int
	var top, load bool
	cmd := &cobra.Command{
		Use:   "layers",
		Short: "Print every layer: index, name, class, output shape, params, trainable",
		Long: `Print the backbone's layers in Keras' model.layers order, so that an index
such as 249 (InceptionV3's conv2d_81, the first layer of mixed9) means here
what it means in Keras. Totals follow, like Keras' model.summary().`,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := models.Get(backbone)
			if err != nil {
				return err
			}
			m, err := spec.Build(models.Options{Size: size, IncludeTop: top})
			if err != nil {
				return err
			}
			if load {
				p, ok, err := weights.Locate(spec, weightsPath)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no weights for %s: run 'trashsort weights fetch --backbone %s' or pass --weights", spec.Name, spec.Name)
				}
				start := time.Now()
				if err := models.LoadKerasWeights(m, p); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "loaded %s in %v\n", p, time.Since(start).Round(time.Millisecond))
			}
			return m.Summary(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	backboneFlag(f, &backbone)
	f.IntVar(&size, "size", 0, "input size (0: the model's default)")
	f.BoolVar(&top, "include-top", false, "include the ImageNet classifier")
	f.BoolVar(&load, "load", false, "also load the ImageNet weights (checks names and shapes)")
	f.StringVar(&weightsPath, "weights", "", "weight file or folder (default $"+weights.EnvVar+" or the cache)")
	return cmd
}

func weightsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "weights", Short: "Manage ImageNet weight files"}
	var backbone string
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Download a backbone's official Keras no-top weights into the cache",
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := models.Get(backbone)
			if err != nil {
				return err
			}
			if p, ok, err := weights.Locate(spec, ""); err == nil && ok {
				if err := weights.Verify(spec, p); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: present at %s\n", spec.Name, p)
				return nil
			}
			p, sha, err := fetchWeights(cmd, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\nsha256 %s\n", spec.Name, p, sha)
			return nil
		},
	}
	backboneFlag(fetch.Flags(), &backbone)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the registry: model, file, URL and where the file is found",
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range models.Names() {
				spec, _ := models.Get(n)
				p, ok, _ := weights.Locate(spec, "")
				where := "not downloaded"
				if ok {
					where = p
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-18s %3d px  %s\n  %s\n  %s\n", n, spec.DefaultSize, spec.NoTop.File, spec.NoTop.URL, where)
			}
			return nil
		},
	}
	cmd.AddCommand(fetch, list)
	return cmd
}
