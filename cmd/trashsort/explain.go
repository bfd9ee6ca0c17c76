package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/explain"
	"trashsort/tensor"
)

func init() { register(explainCmd) }

func explainCmd() *cobra.Command {
	var modelPath, outDir, className string
	cmd := &cobra.Command{
		Use:   "explain IMAGE...",
		Short: "Show where the model looks: Grad-CAM overlays of the predicted (or a given) class",
		Long: `Write, for each image, IMAGE-gradcam.png into --out: the photo with a heat map of
where the evidence for the class lies (Grad-CAM on the backbone's last convolutional
block; red is strong evidence). The class is the predicted one, or --class.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			class := -1
			if className != "" {
				if class = slices.Index(clf.Meta.Classes, className); class < 0 {
					return fmt.Errorf("explain: the model has no class %q (%s)", className, strings.Join(clf.Meta.Classes, ", "))
				}
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			s := clf.Meta.Size
			failed := 0
			for _, in := range args {
				img, err := data.DecodeFile(in)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "trashsort: %v\n", err)
					failed++
					continue
				}
				small := data.Resize(img, s, s, clf.Meta.Resize)
				x := &tensor.Tensor{Shape: []int{1, s, s, 3}, Data: small.AppendFloats(nil)}
				maps, err := explain.GradCAM(clf, x, class)
				if err != nil {
					return err
				}
				base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
				out := filepath.Join(outDir, base+"-gradcam.png")
				if err := explain.WriteOverlay(out, img, &maps[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s %.1f%%\t%s\n", in, clf.Meta.Classes[maps[0].Class], 100*maps[0].Probability, out)
			}
			if failed > 0 {
				return fmt.Errorf("%w: %d of %d", errSomeFailed, failed, len(args))
			}
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&outDir, "out", ".", "folder for the overlay PNGs")
	f.StringVar(&className, "class", "", "class to explain (default: the predicted one)")
	return cmd
}
