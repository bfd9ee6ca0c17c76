package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"trashsort/batch"
	"trashsort/classifier"
	"trashsort/data"
)

func init() {
	register.DoFn3x1[context.Context, string, func(string), error](&expandFn{})
	register.DoFn3x1[context.Context, string, func(int, string), error](&classifyFn{})
	register.DoFn3x1[context.Context, int, func(*string) bool, error](&writeShardFn{})
	register.Emitter1[string]()
	register.Emitter2[int, string]()
	register.Iter1[string]()
	register.Function1x2[int, int, string](shardMarker)
}

// PredictOptions configure Predict.
type PredictOptions struct {
	// Inputs are local folders, files or globs, or paths of any Beam
	// filesystem (gs://bucket/photos/*.jpg).
	Inputs []string
	// Model is the model file (or comma-separated files of an ensemble),
	// readable where the workers run.
	Model string
	// Output is the prefix of the shard files: Output-0000i-of-0000N.jsonl.
	Output string
	// Shards is N, the number of output files (default 1); file f goes to
	// shard batch.Shard(f, N), the files predict --shard i/N classifies.
	Shards int
	// Batch is the number of images per forward pass (default 16).
	Batch int
	// Predict are the answers' options (unsure threshold, top-k, TTA).
	Predict batch.Options
}

func (o *PredictOptions) check() error {
	if len(o.Inputs) == 0 {
		return errors.New("predict: no inputs")
	}
	if o.Model == "" {
		return errors.New("predict: no model")
	}
	if o.Output == "" {
		return errors.New("predict: no output prefix")
	}
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	return nil
}

// Predict adds to s the pipeline that classifies every file the inputs
// match and writes one JSON line per file (batch.Record: predict's line, or
// the file's error) into o.Shards files, each sorted by file name, so a rerun
// over the same files writes the same bytes. A bad image is its line's
// error; only a model that cannot be loaded or an output that cannot be
// written fails the pipeline.
func Predict(s beam.Scope, o PredictOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	s = s.Scope("trashsort.Predict")
	paths := beam.ParDo(s, &expandFn{}, beam.CreateList(s, o.Inputs))
	// A fusion break: the runner may spread the files over its workers.
	paths = beam.Reshuffle(s, paths)
	lines := beam.ParDo(s, &classifyFn{Model: o.Model, Batch: o.Batch, Shards: o.Shards, Options: o.Predict}, paths)
	// Every shard gets a file, even one no image falls in.
	shards := make([]int, o.Shards)
	for i := range shards {
		shards[i] = i
	}
	markers := beam.ParDo(s, shardMarker, beam.CreateList(s, shards))
	grouped := beam.GroupByKey(s, beam.Flatten(s, lines, markers))
	beam.ParDo0(s, &writeShardFn{Output: o.Output, Shards: o.Shards}, grouped)
	return nil
}

// shardMarker keys an empty line to a shard so that the shard is written.
func shardMarker(i int) (int, string) { return i, "" }

// expandFn lists the files of one input.
type expandFn struct{}

func (fn *expandFn) ProcessElement(ctx context.Context, pattern string, emit func(string)) error {
	files, err := expand(ctx, pattern)
	if err != nil {
		return err
	}
	for _, f := range files {
		emit(f)
	}
	return nil
}

// classifyFn loads the model once per instance (Setup) and classifies the
// files of a bundle Batch at a time, emitting (shard, JSON line).
type classifyFn struct {
	Model   string
	Batch   int
	Shards  int
	Options batch.Options

	p       *batch.Predictor
	pending []string
}

func (fn *classifyFn) Setup() error {
	clf, err := classifier.LoadEnsemble(strings.Split(fn.Model, ",")...)
	if err != nil {
		return fmt.Errorf("model %s: %w", fn.Model, err)
	}
	fn.p, err = batch.NewPredictor(clf, fn.Options)
	return err
}

func (fn *classifyFn) StartBundle(context.Context, func(int, string)) { fn.pending = fn.pending[:0] }

func (fn *classifyFn) ProcessElement(ctx context.Context, path string, emit func(int, string)) error {
	fn.pending = append(fn.pending, path)
	if len(fn.pending) < fn.Batch {
		return nil
	}
	return fn.flush(ctx, emit)
}

func (fn *classifyFn) FinishBundle(ctx context.Context, emit func(int, string)) error {
	return fn.flush(ctx, emit)
}

func (fn *classifyFn) flush(ctx context.Context, emit func(int, string)) error {
	if len(fn.pending) == 0 {
		return nil
	}
	// Sorted, so the batches a given bundle forms do not depend on the
	// order its elements arrived in.
	sort.Strings(fn.pending)
	in := make([]batch.Input, len(fn.pending))
	limit := fn.Options.MaxFileBytes
	if limit <= 0 {
		limit = data.MaxFileBytes
	}
	for i, p := range fn.pending {
		b, err := readFile(ctx, p, limit)
		in[i] = batch.Input{Name: p, Data: b, Err: err}
	}
	fn.pending = fn.pending[:0]
	recs, err := fn.p.Predict(ctx, in)
	if err != nil {
		return err
	}
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("record for %s: %w", r.File, err)
		}
		emit(batch.Shard(r.File, fn.Shards), string(b))
	}
	return nil
}

// writeShardFn writes one shard's lines, sorted, to its file.
type writeShardFn struct {
	Output string
	Shards int
}

func (fn *writeShardFn) ProcessElement(ctx context.Context, shard int, lines func(*string) bool) error {
	var all []string
	var l string
	for lines(&l) {
		if l != "" {
			all = append(all, l)
		}
	}
	// Lines start with predict's first key or "error", never the file, so
	// they are sorted by the file name decoded from each.
	recs := make([]batch.Record, len(all))
	for i, l := range all {
		if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
			return fmt.Errorf("shard %d: %w", shard, err)
		}
	}
	b, err := batch.EncodeShard(recs)
	if err != nil {
		return err
	}
	return writeFile(ctx, batch.ShardName(fn.Output, shard, fn.Shards), b)
}
