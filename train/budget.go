package train

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Throughput is what a machine was measured to do, in images a second at
// Size pixels: Forward through the frozen backbone (the feature cache's
// work, in the precision training will use) and Stage2 for a fine-tuning
// step fed from the cache (forward and backward through the trained top).
// Costs at other sizes scale with the pixel count.
type Throughput struct {
	Size            int
	Forward, Stage2 float64
}

// Images counts the photos a job reads: training, validation, and the
// split it is evaluated on at the end (0: the validation split).
type Images struct {
	Train, Val, Test int
}

// Plan is one size of a recipe's job: what Estimate costs and
// FitBudget chooses among.
type Plan struct {
	Size             int
	Views            int // cached augmented views of each training image
	Epochs1, Epochs2 int
	TestSizes        []int // empty: Size alone
}

// String describes the plan in the flags' words.
func (p Plan) String() string {
	ts := p.TestSizes
	if len(ts) == 0 {
		ts = []int{p.Size}
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprint(t)
	}
	return fmt.Sprintf("%d px, %d views, %d + %d epochs, predicting at %s px", p.Size, p.Views, p.Epochs1, p.Epochs2, strings.Join(s, ","))
}

// PlanOf reads the plan of a Config.
func PlanOf(c Config) Plan {
	views := c.CacheFeatures
	if views < 1 {
		views = 1
	}
	return Plan{Size: c.Size, Views: views, Epochs1: c.Epochs1, Epochs2: c.Epochs2, TestSizes: slices.Clone(c.TestSizes)}
}

// Apply writes the plan into c.
func (p Plan) Apply(c *Config) {
	c.Size, c.CacheFeatures, c.Epochs1, c.Epochs2 = p.Size, p.Views, p.Epochs1, p.Epochs2
	c.TestSizes = slices.Clone(p.TestSizes)
}

// jobOverhead is the part of a job that does not grow with its images:
// loading the weights, building the models at each size, writing files.
const jobOverhead = 30 * time.Second

// Estimate is the wall time of the whole job (features, both stages,
// validation, the calibration refit and the final evaluation at every
// test size) under the plan on a machine with throughput t. The cost
// model counts the work the job does: every training image once per view
// through the frozen backbone; each stage-two epoch, the training and
// validation images through the trained top; at the end the validation
// images (calibration) and the evaluation images through the whole model
// at each test size. Stage one trains the head on pooled features and
// costs next to nothing.
func Estimate(p Plan, t Throughput, n Images) time.Duration {
	if t.Forward <= 0 || t.Stage2 <= 0 || t.Size <= 0 {
		return time.Duration(1<<63 - 1)
	}
	scale := func(s int) float64 { return float64(s*s) / float64(t.Size*t.Size) }
	test := n.Test
	if test == 0 {
		test = n.Val
	}
	sec := float64(n.Train*p.Views+n.Val) * scale(p.Size) / t.Forward
	sec += float64(p.Epochs2*(n.Train+n.Val)) * scale(p.Size) / t.Stage2
	sizes := p.TestSizes
	if len(sizes) == 0 {
		sizes = []int{p.Size}
	}
	for _, s := range sizes {
		sec += float64(n.Val+test) * scale(s) / t.Forward
	}
	return jobOverhead + time.Duration(sec*float64(time.Second))
}

// Plans is the ladder of plans FitBudget chooses from for a Config a
// recipe set up, largest first: the recipe's own; fewer views; one test
// size; a smaller input (InceptionV3's 235 px, the fast recipe's); half
// the fine-tuning epochs; one view. Each step keeps what the ones before
// it kept, so accuracy falls as little as the time allows (the order
// follows the measured cost of each in docs/EXPERIMENTS.md).
func Plans(c Config) []Plan {
	p := PlanOf(c)
	out := []Plan{p}
	add := func(f func(*Plan)) {
		q := out[len(out)-1]
		q.TestSizes = slices.Clone(q.TestSizes)
		f(&q)
		if !equalPlans(q, out[len(out)-1]) {
			out = append(out, q)
		}
	}
	add(func(q *Plan) { q.Views = min(q.Views, 2) })
	add(func(q *Plan) {
		if len(q.TestSizes) > 1 {
			q.TestSizes = q.TestSizes[:1]
		}
	})
	add(func(q *Plan) {
		if s := smallerSize(c.Backbone, q.Size); s != q.Size {
			q.Size, q.TestSizes = s, []int{s}
		}
	})
	add(func(q *Plan) { q.Epochs2 = (q.Epochs2 + 1) / 2 })
	add(func(q *Plan) { q.Views = 1 })
	return out
}

// smallerSize is the next input size down that keeps the backbone's
// grids whole: 32k + 11 for InceptionV3 (235 from 299), else a multiple
// of 32 about 0.8 times as wide, and never below 128.
func smallerSize(backbone string, size int) int {
	if backbone == "" || backbone == "inception_v3" {
		if size > 235 {
			return 235
		}
		return size
	}
	s := (size * 4 / 5) / 32 * 32
	if s < 128 || s >= size {
		return size
	}
	return s
}

func equalPlans(a, b Plan) bool {
	return a.Size == b.Size && a.Views == b.Views && a.Epochs1 == b.Epochs1 && a.Epochs2 == b.Epochs2 && slices.Equal(a.TestSizes, b.TestSizes)
}

// Choice is what FitBudget chose and the estimates it chose from.
type Choice struct {
	Plan      Plan
	Estimate  time.Duration
	Plans     []Plan
	Estimates []time.Duration
	// Fits is false when even the smallest plan is over the budget (Plan
	// is then the smallest).
	Fits bool
}

// FitBudget chooses the largest of Plans(c) whose Estimate is within
// budget on a machine with throughput t. It is a pure function of its
// arguments.
func FitBudget(c Config, t Throughput, n Images, budget time.Duration) Choice {
	ch := Choice{Plans: Plans(c)}
	for _, p := range ch.Plans {
		ch.Estimates = append(ch.Estimates, Estimate(p, t, n))
	}
	for i, e := range ch.Estimates {
		if e <= budget {
			ch.Plan, ch.Estimate, ch.Fits = ch.Plans[i], e, true
			return ch
		}
	}
	last := len(ch.Plans) - 1
	ch.Plan, ch.Estimate = ch.Plans[last], ch.Estimates[last]
	return ch
}
