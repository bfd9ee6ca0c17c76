// Command trashsort-beam runs trashsort's Apache Beam pipelines:
//
//	trashsort-beam predict --model M --output OUT/pred --shards 8 [--runner prism] PATH|GLOB...
//	trashsort-beam features --plan PLAN.json --output DIR [--runner prism]
//
// predict writes OUT/pred-0000i-of-00008.jsonl, one JSON line per file
// (trashsort predict --format json's line, or the file's error); features
// writes the feature-cache shards that trashsort train --features DIR reads
// (the plan comes from trashsort train --features-plan PLAN.json with the
// flags of the training run). --runner picks prism (local, the default),
// flink, spark or dataflow, with their endpoints and options (--endpoint,
// --environment_type, --project, ...) as Beam's Go SDK defines them.
//
// The same binary is the Beam workers' program; Beam starts it with its
// own flags, and it then serves the pipeline's steps.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"trashsort/batch"
	"trashsort/beam/pipelines"
)

var (
	model   = flag.String("model", "", "predict: the model file (comma-separated files: an ensemble), readable by every worker")
	output  = flag.String("output", "", "predict: the prefix of the shard files (OUT/pred gives OUT/pred-00000-of-0000N.jsonl); features: the folder of feature shards")
	shards  = flag.Int("shards", 4, "predict: how many output files")
	batchN  = flag.Int("batch", 16, "predict: images per forward pass on a worker")
	tta     = flag.Bool("tta", false, "predict: average with the horizontal flip")
	minConf = flag.Float64("min-confidence", 0, `predict: answer "unsure" below this calibrated confidence (0: the model's threshold; -1: never)`)
	top     = flag.Int("top", 3, "predict: how many classes each line ranks")
	plan    = flag.String("plan", "", "features: the plan written by trashsort train --features-plan")
	rows    = flag.Int("rows", 0, "features: images per shard (a multiple of the plan's batch; 0: 8 batches)")
)

func main() {
	cmd := ""
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		cmd = os.Args[1]
		os.Args = append([]string{os.Args[0]}, os.Args[2:]...)
	}
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: trashsort-beam predict|features [flags] [PATH|GLOB...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	// A worker started by a runner serves the pipeline here and exits.
	beam.Init()
	if err := run(context.Background(), cmd, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "trashsort-beam: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	p, s := beam.NewPipelineWithRoot()
	switch cmd {
	case "predict":
		err := pipelines.Predict(s, pipelines.PredictOptions{Inputs: args, Model: *model, Output: *output, Shards: *shards, Batch: *batchN,
			Predict: batch.Options{TTA: *tta, MinConfidence: *minConf, Top: *top}})
		if err != nil {
			return err
		}
	case "features":
		if len(args) > 0 {
			return fmt.Errorf("features takes no arguments (got %q): the plan lists the images", args)
		}
		if err := pipelines.Features(s, pipelines.FeaturesOptions{Plan: *plan, Output: *output, Rows: *rows}); err != nil {
			return err
		}
	case "":
		flag.Usage()
		return errors.New("no pipeline named: predict or features")
	default:
		return fmt.Errorf("unknown pipeline %q: predict or features", cmd)
	}
	return beamx.Run(ctx, p)
}
