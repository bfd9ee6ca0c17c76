package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/tensor"
)

func init() { register(quantizeCmd) }

func quantizeCmd() *cobra.Command {
	var modelPath, dataDir, out string
	var images, batch int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "quantize",
		Short: "Calibrate 8-bit inference on training images and store it in the model file (for --int8)",
		Long: `Run a few hundred training images through the model, record the input range
of every convolution of the backbone, choose on one batch how much of that
range the 8-bit steps cover (clipping rare outliers, by the error it causes)
and how far the int8 result is from float32, and write them into the model
file. Layers whose error stays over 1% run in float32. eval, predict, serve and bench
then run with --int8 without calibration data (as PyTorch's post-training
static quantization, prepare_fx + calibration + convert_fx, does).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			ds, err := data.FromFolder(dataDir, clf.Meta.Classes)
			if err != nil {
				return err
			}
			l, err := data.NewLoader(ds, data.Config{Size: clf.Meta.Size, Resize: clf.Meta.Resize, BatchSize: batch, Shuffle: true, Seed: seed})
			if err != nil {
				return err
			}
			batches, wait := l.Epoch(cmd.Context(), 0)
			n := 0
			var tuneX *tensor.Tensor
			for b := range batches {
				if n >= images {
					continue // drain
				}
				if tuneX == nil {
					tuneX = b.X.Clone()
				}
				if err := clf.CalibrateInt8(b.X); err != nil {
					return err
				}
				n += len(b.Labels)
			}
			if err := wait(); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("quantize: no images in %s", dataDir)
			}
			if err := clf.TuneInt8(tuneX); err != nil {
				return err
			}
			if out == "" {
				out = modelPath
			}
			if err := clf.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "calibrated %d convolutions on %d images: %s\n", len(clf.Meta.Int8), n, out)
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&dataDir, "data", "", "training class folders (e.g. datasets/trashnet/train)")
	f.StringVar(&out, "out", "", "write the calibrated model here (default: over --model)")
	f.IntVar(&images, "images", 256, "how many training images to calibrate on")
	f.IntVar(&batch, "batch", 32, "batch size")
	f.Uint64Var(&seed, "seed", 1, "which images (shuffle seed)")
	cmd.MarkFlagRequired("data")
	return cmd
}
