package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"trashsort/classifier"
	"trashsort/onnx"
)

func init() { register(exportCmd) }

func exportCmd() *cobra.Command {
	var modelPath, format, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the model for other runtimes: ONNX (opset 13, preprocessing and calibration included)",
		Long: `Write the model as an ONNX file (opset 13) for ONNX Runtime, onnxruntime-web and
other runtimes. Input "pixels": float32 [batch, size, size, 3], RGB in [0, 255],
already resized to the model's input size; the graph applies the preprocessing and the
calibration temperature. Output "probabilities": float32 [batch, classes]. The class
names (JSON), input size, resize filter, temperature and "unsure" threshold are in
the model's metadata_props.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "onnx" {
				return fmt.Errorf("export: unknown format %q (onnx)", format)
			}
			if out == "" {
				return fmt.Errorf("export: name the output file with -o")
			}
			clf, err := classifier.Load(modelPath)
			if err != nil {
				return err
			}
			if err := onnx.Write(out, clf); err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: ONNX opset %d, %s, %d classes, %.1f MB\n", out, onnx.Opset, clf.Meta.Backbone, len(clf.Meta.Classes), float64(st.Size())/1e6)
			return nil
		},
	}
	f := cmd.Flags()
	modelFileFlag(f, &modelPath)
	f.StringVar(&format, "format", "onnx", "output format (onnx)")
	f.StringVarP(&out, "output", "o", "", "output file")
	return cmd
}
