package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"trashsort/classifier"
	"trashsort/keras"
	"trashsort/onnx"
)

func init() { register(exportCmd) }

// exportFormats are export's --format values.
var exportFormats = []string{"onnx", "keras-h5", "tfjs"}

func exportCmd() *cobra.Command {
	var modelPath, format, out string
	var o keras.Options
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the model for other runtimes: ONNX, Keras .h5, TensorFlow.js",
		Long: `Write the model for other runtimes.

--format onnx: an ONNX file (opset 13) for ONNX Runtime, onnxruntime-web and other
runtimes. Input "pixels": float32 [batch, size, size, 3], RGB in [0, 255], already
resized to the model's input size; the graph applies the preprocessing and the
calibration temperature. Output "probabilities": float32 [batch, classes]. The class
names (JSON), input size, resize filter, temperature and "unsure" threshold are in
the model's metadata_props.

--format keras-h5: a Keras 2 full-model .h5 file (model.save's layout), which
keras.models.load_model reads: the functional graph layer for layer with Keras'
class names and weights, the head included. As keras.applications models, it takes
preprocessed pixels (x/127.5 - 1 for InceptionV3 and MobileNetV2) unless
--include-preprocessing adds a Rescaling layer that takes [0, 255]. The calibration
temperature is folded into the last Dense layer, so that its softmax gives the
calibrated probabilities trashsort answers (--uncalibrated keeps the trained
weights). Classes, input size, preprocessing, temperature and the "unsure" threshold
are JSON in the root attribute "trashsort". No training configuration: Keras loads
it uncompiled. trashsort's own commands read it back (--model file.h5).

--format tfjs: a TensorFlow.js Layers model in the folder -o names (model.json and
group1-shardNofM.bin), which tf.loadLayersModel reads; the same graph, options and
metadata (model.json's userDefinedMetadata.trashsort).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(exportFormats, format) {
				return fmt.Errorf("export: unknown format %q (%s)", format, strings.Join(exportFormats, ", "))
			}
			if out == "" {
				return fmt.Errorf("export: name the output with -o (a file; for tfjs a folder)")
			}
			if format == "onnx" && (o.Preprocessing || o.Uncalibrated) {
				return fmt.Errorf("export: --include-preprocessing and --uncalibrated are keras-h5 and tfjs options (ONNX always includes both)")
			}
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			start := time.Now()
			var what string
			switch format {
			case "onnx":
				err = onnx.Write(out, clf)
				what = fmt.Sprintf("ONNX opset %d", onnx.Opset)
			case "keras-h5":
				err = keras.WriteH5(out, clf, o)
				what = "Keras " + keras.KerasVersion + " .h5"
			case "tfjs":
				err = keras.WriteTFJS(out, clf, o)
				what = "TensorFlow.js Layers"
			}
			if err != nil {
				return err
			}
			size, err := diskSize(out)
			if err != nil {
				return err
			}
			var notes []string
			if format != "onnx" {
				if o.Preprocessing {
					notes = append(notes, "preprocessing included")
				} else {
					notes = append(notes, fmt.Sprintf("takes preprocessed pixels (%s)", clf.Meta.Preprocess))
				}
				if o.Uncalibrated || clf.Temperature() == 1 {
					notes = append(notes, "uncalibrated softmax")
				} else {
					notes = append(notes, fmt.Sprintf("temperature %.3g folded in", clf.Temperature()))
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s, %s, %d classes, %.1f MB in %.1fs%s\n", out, what, clf.Meta.Backbone, len(clf.Meta.Classes),
				float64(size)/1e6, time.Since(start).Seconds(), strings.Join(append([]string{""}, notes...), "; "))
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&format, "format", "onnx", "output format ("+strings.Join(exportFormats, ", ")+")")
	f.StringVarP(&out, "output", "o", "", "output file (tfjs: folder)")
	f.BoolVar(&o.Preprocessing, "include-preprocessing", false, "keras-h5, tfjs: add a Rescaling layer so that the model takes RGB pixels in [0, 255]")
	f.BoolVar(&o.Uncalibrated, "uncalibrated", false, "keras-h5, tfjs: keep the trained last layer instead of folding the calibration temperature into it")
	return cmd
}

// diskSize is a file's size, or the total of a folder's files.
func diskSize(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			n += st.Size()
		}
		return nil
	})
	return n, err
}
