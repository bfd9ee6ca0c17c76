package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"trashsort/classifier"
	"trashsort/models"
	"trashsort/nn"
)

// The flags below are the vocabulary every command shares: --model is
// always a model file and --backbone always an architecture.

// randomWeights is the --weights value that starts the backbone from random
// weights (Keras' weights=None).
const randomWeights = "none"

// backboneFlag registers --backbone, the architecture. (--model, its
// alias until 0.1.0, names a model file in every command.)
func backboneFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "backbone", models.Default(), "architecture: "+strings.Join(models.Names(), ", "))
}

// modelFileFlag registers --model, the model file a command reads.
func modelFileFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "model", "model.safetensors", "model file")
}

// modelFilesFlag registers --model for the commands that predict (eval,
// predict, serve): one model file, or several separated by commas for an
// ensemble.
func modelFilesFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "model", "model.safetensors", "model file; several, comma-separated, make an ensemble that averages their calibrated probabilities")
}

// inferFlags are the inference settings of the commands that predict:
// --int8, --int8-max-err and --test-sizes.
type inferFlags struct {
	on        bool
	maxErr    float64
	testSizes []int
}

func (f *inferFlags) register(fs *pflag.FlagSet) {
	fs.IntSliceVar(&f.testSizes, "test-sizes", nil, "input sizes whose predictions are averaged, overriding the model's own test sizes (e.g. its training size alone, for speed)")
	fs.BoolVar(&f.on, "int8", false, "run the calibrated convolutions in 8-bit integers (see trashsort quantize)")
	fs.Float64Var(&f.maxErr, "int8-max-err", 0, fmt.Sprintf("with --int8, a convolution runs in int8 only if its calibrated relative error against float32 is at most this (higher: faster, less exact; 0: the bound trashsort quantize chose for the model, else %g)", nn.DefaultInt8MaxErr))
}

// loadModel reads a model file, or the comma-separated files of an
// ensemble, and sets it up for bfloat16 or int8 inference as the command's
// flags ask; with int8 it tells log which instruction set runs it.
func loadModel(log io.Writer, path string, bf16 bool, q inferFlags) (*classifier.Classifier, error) {
	clf, err := classifier.LoadEnsemble(strings.Split(path, ",")...)
	if err != nil {
		return nil, err
	}
	if q.testSizes != nil {
		if err := clf.SetTestSizes(q.testSizes); err != nil {
			return nil, fmt.Errorf("--test-sizes: %w", err)
		}
	}
	clf.SetBF16(bf16)
	if q.on {
		if !(q.maxErr >= 0) {
			return nil, fmt.Errorf("--int8-max-err %g: want a positive relative error (or 0: the model's own)", q.maxErr)
		}
		if q.maxErr > 0 {
			clf.SetInt8MaxErr(float32(q.maxErr))
		}
		if err := clf.UseInt8(); err != nil {
			return nil, err
		}
		if classifier.HasInt8() {
			fmt.Fprintf(log, "int8: on, oneDNN ISA %s\n", classifier.ISA())
		} else {
			fmt.Fprintf(log, "int8: this CPU has no int8 kernels (oneDNN ISA %s): running float32\n", classifier.ISA())
		}
	}
	return clf, nil
}

// outputFormat is the --format of eval and predict.
type outputFormat string

// The output formats.
const (
	formatTable outputFormat = "table" // aligned text for people
	formatJSON  outputFormat = "json"
	formatCSV   outputFormat = "csv" // RFC 4180
)

var outputFormats = []outputFormat{formatTable, formatJSON, formatCSV}

func (f *outputFormat) String() string { return string(*f) }

// Type is the value's name in help.
func (f *outputFormat) Type() string { return "table|json|csv" }

// Set refuses an unknown format while the flags are parsed, before the
// command does any work.
func (f *outputFormat) Set(s string) error {
	if !slices.Contains(outputFormats, outputFormat(s)) {
		return fmt.Errorf("want table, json or csv")
	}
	*f = outputFormat(s)
	return nil
}

// formatFlag registers --format; p holds the default.
func formatFlag(fs *pflag.FlagSet, p *outputFormat, usage string) {
	fs.Var(p, "format", usage)
}
