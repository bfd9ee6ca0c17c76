package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"trashsort/train"
)

func init() {
	register.DoFn2x1[context.Context, string, error](&featuresFn{})
}

// FeaturesOptions configure Features.
type FeaturesOptions struct {
	// Plan is the file trashsort train --features-plan wrote.
	Plan string
	// Output is the folder (local, or of any Beam filesystem) of the
	// feature shards, for train --features.
	Output string
	// Rows is the number of images per piece (rounded up to the plan's
	// batch; 0: 8 batches).
	Rows int
}

// Features adds to s the pipeline that computes a feature plan's pieces,
// each an element the runner may place on any worker, and writes each
// piece's shard files (train's feature cache encoding, named by the plan's
// keys) into o.Output. The plan travels inside the pipeline: workers need
// the images and the weight file at the plan's paths, not the plan file.
func Features(s beam.Scope, o FeaturesOptions) error {
	if o.Plan == "" || o.Output == "" {
		return errors.New("features: want a plan and an output folder")
	}
	plan, err := train.ReadFeaturePlan(o.Plan)
	if err != nil {
		return err
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	var jobs []string
	for _, j := range plan.Jobs(o.Rows) {
		jb, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		jobs = append(jobs, string(jb))
	}
	s = s.Scope("trashsort.Features")
	// A fusion break, so the pieces spread over the workers.
	pieces := beam.Reshuffle(s, beam.CreateList(s, jobs))
	beam.ParDo0(s, &featuresFn{Plan: string(b), Output: o.Output}, pieces)
	return nil
}

// featuresFn builds the plan's model once per instance and computes pieces.
type featuresFn struct {
	Plan   string
	Output string

	ex *train.FeatureExtractor
}

func (fn *featuresFn) Setup(ctx context.Context) error {
	var p train.FeaturePlan
	if err := json.Unmarshal([]byte(fn.Plan), &p); err != nil {
		return fmt.Errorf("features: the plan: %w", err)
	}
	ex, err := p.NewExtractor(ctx)
	if err != nil {
		return err
	}
	fn.ex = ex
	return nil
}

func (fn *featuresFn) ProcessElement(ctx context.Context, job string) error {
	var j train.FeatureJob
	if err := json.Unmarshal([]byte(job), &j); err != nil {
		return fmt.Errorf("features: piece %s: %w", job, err)
	}
	shards, err := fn.ex.Extract(ctx, j)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if err := writeFile(ctx, joinPath(fn.Output, sh.Name), sh.Data); err != nil {
			return err
		}
	}
	return nil
}

// joinPath joins a folder of any Beam filesystem and a file name.
func joinPath(dir, name string) string {
	if local(dir) {
		return filepath.Join(dir, name)
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}
