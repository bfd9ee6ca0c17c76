package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/nn"
)

func init() { register(quantizeCmd) }

func quantizeCmd() *cobra.Command {
	var modelPath, dataDir, out string
	var images, check, batch int
	var seed uint64
	var minAgree float64
	cmd := &cobra.Command{
		Use:   "quantize",
		Short: "Calibrate 8-bit inference on training images and store it in the model file (for --int8)",
		Long: `Run a few hundred training images through the model, record the input range
of every convolution of the backbone, choose on one batch how much of that
range the 8-bit steps cover (clipping rare outliers, by the error it causes)
and how far the int8 result is from float32, and write them into the model
file. eval, predict, serve and bench then run with --int8 without
calibration data (as PyTorch's post-training static quantization,
prepare_fx + calibration + convert_fx, does).

Then choose which convolutions --int8 runs in 8 bits: on further training
images, held out from calibration, try error bounds from 1 (every
convolution) down to 0.01 and keep the largest whose top-1 predictions
agree with float32's on at least --min-agreement of them; the others stay
float32. The choice is stored in the model; --int8-max-err overrides it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !(minAgree >= 0 && minAgree <= 1) {
				return fmt.Errorf("--min-agreement %g: want a fraction in [0, 1]", minAgree)
			}
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
			q, err := clf.Quantize(cmd.Context(), l.Images(cmd.Context(), 0), classifier.QuantizeOptions{Images: images, Check: check, MinAgreement: minAgree, Batch: batch})
			if err != nil {
				return fmt.Errorf("quantize: %s: %w", dataDir, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "calibrated %d convolutions on %d images\n", q.Convolutions, q.Images)
			if q.Held == 0 {
				fmt.Fprintf(w, "no images left to check int8 against float32: --int8 keeps the default error bound %g\n", nn.DefaultInt8MaxErr)
			} else {
				for _, k := range q.Checks {
					fmt.Fprintf(w, "error bound %-5g %2d of %d convolutions in int8: top-1 agrees with float32 on %d of %d held-out images (%.1f%%)\n",
						k.MaxErr, k.Layers, k.Calibrated, k.Agree, k.Images, 100*k.Agreement())
				}
				if !q.Reached {
					fmt.Fprintf(w, "no bound reached %.1f%% agreement: --int8 keeps the smallest, %g\n", 100*minAgree, q.MaxErr)
				} else {
					fmt.Fprintf(w, "--int8 uses error bound %g\n", q.MaxErr)
				}
			}
			if out == "" {
				out = modelPath
			}
			if err := clf.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(w, "wrote %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&dataDir, "data", "", "training class folders (e.g. datasets/trashnet/train)")
	f.StringVar(&out, "out", "", "write the calibrated model here (default: over --model)")
	f.IntVar(&images, "images", 256, "how many training images to calibrate on")
	f.IntVar(&check, "check-images", 256, "how many further training images to check int8 against float32 on (0: keep the default error bound)")
	f.Float64Var(&minAgree, "min-agreement", 0.99, "the fraction of held-out images on which int8's top-1 class must match float32's")
	f.IntVar(&batch, "batch", 32, "batch size")
	f.Uint64Var(&seed, "seed", 1, "which images (shuffle seed)")
	cmd.MarkFlagRequired("data")
	return cmd
}
