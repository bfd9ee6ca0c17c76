package main

import (
	"strings"

	"github.com/spf13/pflag"

	"trashsort/classifier"
	"trashsort/models"
)

// The flags below are the vocabulary every command shares: --model is
// always a model file and --backbone always an architecture.

// randomWeights is the --weights value that starts the backbone from random
// weights (Keras' weights=None).
const randomWeights = "none"

// backboneFlag registers --backbone, the architecture, and --model as its
// deprecated alias for one release: afterwards --model names a model file
// in every command, as it does in eval, predict and serve.
func backboneFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "backbone", models.Default(), "architecture: "+strings.Join(models.Names(), ", "))
	fs.StringVar(p, "model", models.Default(), "deprecated: use --backbone")
	fs.MarkDeprecated("model", "use --backbone (--model will name a model file, as in eval, predict and serve)")
}

// modelFileFlag registers --model, the model file a command reads.
func modelFileFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "model", "model.safetensors", "model file")
}

// loadModel reads a model file and sets it up for bfloat16 or int8
// inference as the command's flags ask.
func loadModel(path string, bf16, int8 bool) (*classifier.Classifier, error) {
	clf, err := classifier.Load(path)
	if err != nil {
		return nil, err
	}
	clf.Model.BF16 = bf16
	if int8 {
		if err := clf.UseInt8(); err != nil {
			return nil, err
		}
	}
	return clf, nil
}
