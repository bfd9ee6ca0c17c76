package main

import (
	"strings"

	"github.com/spf13/pflag"

	"trashsort/models"
)

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
