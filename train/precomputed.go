package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"trashsort/atomicfile"
	"trashsort/data"
	"trashsort/nn"
	"trashsort/tensor"
)

// FeaturePlanFormat names the version of FeaturePlan's JSON form.
const FeaturePlanFormat = "trashsort-feature-plan/1"

// FeaturePlan is the feature cache that Fit would compute for a
// configuration, described so that other machines can compute it in
// pieces: the configuration, the images as Fit keeps them (bad ones
// dropped), the weight file and each stored view's file key. Fit with
// Config.Features pointing at the pieces' folder reads them instead of
// computing them, and trains exactly the model it would have trained.
type FeaturePlan struct {
	Format string
	// Config is the training configuration, as Defaults completed it.
	Config Config
	// Train and Val are the images whose features are stored, in order.
	Train, Val *data.Dataset
	// Weights is the backbone's weight file (or the FromModel file).
	Weights string
	// Stores are the stored activations: the pooled features and, with a
	// stage two, the cache layer's output, of the training views and of
	// the validation set.
	Stores []PlanStore
}

// PlanStore is one stored layer of one set.
type PlanStore struct {
	Set   string // "train" or "val"
	Layer string
	// Key names the store's files: Key-vV.bin whole, Key-vV-rFIRST.bin in
	// row shards.
	Key   string
	Views int
	Rows  int // images
	// RowBytes is the size of one image's activations (float32 or bfloat16).
	RowBytes int
}

// FeatureJob is one piece of a plan: rows First to First+Count-1 of one
// view of one set, for every layer stored of that set.
type FeatureJob struct {
	Set   string
	View  int
	First int
	Count int
}

// PlanFeatures prepares what Fit prepares (decoding every image once) and
// returns the plan of its feature cache; it trains nothing and writes
// nothing.
func PlanFeatures(ctx context.Context, cfg Config, trainSet, valSet *data.Dataset, weightsPath string) (*FeaturePlan, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CacheFeatures < 0 {
		return nil, errors.New("feature plan: features computed on the fly (--cache-features -1) have no cache to plan")
	}
	t, _, err := prepare(ctx, cfg, trainSet, valSet, weightsPath, true)
	if err != nil {
		return nil, err
	}
	cfg.Features, cfg.FeatureDir = "", "feature plan" // any folder: the keys
	t.cfg = cfg
	keys, err := t.featureKeys()
	if err != nil {
		return nil, err
	}
	boundary, err := t.cacheLayer()
	if err != nil {
		return nil, err
	}
	views := max(cfg.CacheFeatures, 1)
	layers := []*nn.LayerBase{t.m.Layers[t.gapIdx].Base()}
	if cfg.Epochs2 > 0 {
		layers = append(layers, t.m.Layers[boundary].Base())
	}
	cfg.FeatureDir, cfg.Progress = "", nil
	// The datasets below are a final fit's merged ones already.
	cfg.FinalFit = false
	p := &FeaturePlan{Format: FeaturePlanFormat, Config: cfg, Train: t.trainL.Dataset(), Val: t.valL.Dataset(), Weights: t.weightsPath}
	for _, set := range []string{"train", "val"} {
		n, v, elem := t.trainL.Len(), views, 4
		if set == "train" && cfg.BF16 {
			elem = 2
		}
		if set == "val" {
			n, v = t.valL.Len(), 1
		}
		for _, l := range layers {
			p.Stores = append(p.Stores, PlanStore{Set: set, Layer: l.Name(), Key: keys[set] + "-" + l.Name(), Views: v, Rows: n, RowBytes: elem * tensor.Numel(l.OutShape())})
		}
	}
	return p, nil
}

// ReadFeaturePlan reads a plan written as JSON.
func ReadFeaturePlan(path string) (*FeaturePlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feature plan: %w", err)
	}
	var p FeaturePlan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("feature plan %s: %w", path, err)
	}
	if p.Format != FeaturePlanFormat {
		return nil, fmt.Errorf("feature plan %s: format %q, want %q", path, p.Format, FeaturePlanFormat)
	}
	if p.Train == nil || p.Val == nil || len(p.Stores) == 0 {
		return nil, fmt.Errorf("feature plan %s: no images or no stores", path)
	}
	return &p, nil
}

// Write saves the plan as JSON, atomically.
func (p *FeaturePlan) Write(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("feature plan: %w", err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// Jobs splits the plan into pieces of rows images (rounded up to a
// multiple of the batch, so each piece runs exactly the batches Fit runs;
// 0 means 8 batches).
func (p *FeaturePlan) Jobs(rows int) []FeatureJob {
	b := max(p.Config.Batch, 1)
	if rows <= 0 {
		rows = 8 * b
	}
	rows = (rows + b - 1) / b * b
	var jobs []FeatureJob
	for _, set := range []string{"train", "val"} {
		n, views := p.rows(set)
		for v := 0; v < views; v++ {
			for first := 0; first < n; first += rows {
				jobs = append(jobs, FeatureJob{Set: set, View: v, First: first, Count: min(rows, n-first)})
			}
		}
	}
	return jobs
}

func (p *FeaturePlan) rows(set string) (n, views int) {
	for _, s := range p.Stores {
		if s.Set == set {
			return s.Rows, s.Views
		}
	}
	return 0, 0
}

// FeatureShard is one file of a piece: its name in the features folder
// and its bytes, in the feature cache's encoding.
type FeatureShard struct {
	Name string
	Data []byte
}

// shardName is the file of rows from first of a store's view.
func shardName(key string, view, first int) string {
	return fmt.Sprintf("%s-v%d-r%09d.bin", key, view, first)
}

// FeatureExtractor computes a plan's pieces with the frozen backbone. It
// is not safe for concurrent use: give each worker its own.
type FeatureExtractor struct {
	p       *FeaturePlan
	t       *trainer
	ordered *data.Loader
	outs    []int // the stored layers' indices, in the plan's order
}

// NewExtractor builds the plan's model (the same initialization and weight
// file as Fit) without decoding the images.
func (p *FeaturePlan) NewExtractor(ctx context.Context) (*FeatureExtractor, error) {
	t, _, err := prepare(ctx, p.Config, p.Train, p.Val, p.Weights, false)
	if err != nil {
		return nil, err
	}
	if t.trainL.Len() != p.rowsOr("train") || t.valL.Len() != p.rowsOr("val") {
		return nil, errors.New("feature plan: its images and its stores disagree")
	}
	t.m.SetTrainable(0, len(t.m.Layers), false)
	cfg := t.trainL.Config()
	cfg.Shuffle = false
	if p.Config.CacheFeatures == 0 {
		cfg.Augment = nil
	}
	ordered, err := data.NewLoader(t.trainL.Dataset(), cfg)
	if err != nil {
		return nil, err
	}
	boundary, err := t.cacheLayer()
	if err != nil {
		return nil, err
	}
	e := &FeatureExtractor{p: p, t: t, ordered: ordered, outs: []int{t.gapIdx}}
	if p.Config.Epochs2 > 0 {
		e.outs = append(e.outs, boundary)
	}
	var layers []string
	for _, s := range p.Stores {
		if s.Set == "train" {
			layers = append(layers, s.Layer)
		}
	}
	for k, i := range e.outs {
		if k >= len(layers) || t.m.Layers[i].Base().Name() != layers[k] {
			return nil, fmt.Errorf("feature plan: stores %v, the model stores layer %s", layers, t.m.Layers[i].Base().Name())
		}
	}
	return e, nil
}

func (p *FeaturePlan) rowsOr(set string) int { n, _ := p.rows(set); return n }

// Extract computes one piece: for each layer stored of the job's set, the
// activations of its rows, as Fit's feature cache stores them.
func (e *FeatureExtractor) Extract(ctx context.Context, job FeatureJob) ([]FeatureShard, error) {
	l, bf16 := e.ordered, e.p.Config.BF16
	if job.Set == "val" {
		l, bf16 = e.t.valL, false
	}
	var stores []PlanStore
	for _, s := range e.p.Stores {
		if s.Set == job.Set {
			stores = append(stores, s)
		}
	}
	if len(stores) == 0 || job.View < 0 || job.View >= stores[0].Views || job.First < 0 || job.Count < 1 || job.First+job.Count > stores[0].Rows {
		return nil, fmt.Errorf("feature job %+v: outside the plan", job)
	}
	// Batches as Fit runs them: from a multiple of the batch size.
	b := l.Config().BatchSize
	if job.First%b != 0 {
		return nil, fmt.Errorf("feature job %+v: starts inside a batch of %d", job, b)
	}
	stores2 := make([]*featureStore, len(stores))
	for k, s := range stores {
		fs, err := newFeatureStore(e.t.m.Layers[e.outs[k]].Base().OutShape(), job.Count, 1, bf16, 1<<62, "")
		if err != nil {
			return nil, err
		}
		defer fs.close()
		if fs.per()*fs.elem != s.RowBytes {
			return nil, fmt.Errorf("feature plan: %s rows of %d bytes, the model's are %d", s.Key, s.RowBytes, fs.per()*fs.elem)
		}
		stores2[k] = fs
	}
	e.t.m.BF16 = bf16
	defer func() { e.t.m.BF16 = false }()
	size := l.Config().Size
	per := size * size * 3
	for lo := job.First; lo < job.First+job.Count; lo += b {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+b, job.First+job.Count)
		x := &tensor.Tensor{Shape: []int{hi - lo, size, size, 3}, Data: make([]float32, (hi-lo)*per)}
		for i := lo; i < hi; i++ {
			if err := l.Render(i, job.View, x.Data[(i-lo)*per:(i-lo+1)*per]); err != nil {
				return nil, fmt.Errorf("feature job %+v: %w", job, err)
			}
		}
		e.t.clf.Preprocess(x.Data)
		res, err := e.t.m.Run(map[int]*tensor.Tensor{e.t.m.Inputs[0]: x}, e.outs, false)
		if err != nil {
			return nil, fmt.Errorf("feature job %+v: %w", job, err)
		}
		for k := range stores2 {
			if err := stores2[k].put(0, lo-job.First, res[k].Data); err != nil {
				return nil, err
			}
		}
	}
	out := make([]FeatureShard, len(stores))
	for k, st := range stores {
		out[k] = FeatureShard{Name: shardName(st.Key, job.View, job.First), Data: append([]byte(nil), stores2[k].mem[0]...)}
	}
	return out, nil
}

// WriteShards writes a piece's files into dir, atomically.
func WriteShards(dir string, shards []FeatureShard) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	for _, s := range shards {
		if err := atomicfile.WriteFile(filepath.Join(dir, s.Name), s.Data); err != nil {
			return err
		}
	}
	return nil
}

// loadShards fills a view from Config.Features: its whole file, or row
// shards that tile it exactly. Anything else is an error: a run told to
// read its features never computes them.
func (s *featureStore) loadShards(view int) (bool, error) {
	whole := filepath.Join(s.persist, fmt.Sprintf("%s-v%d.bin", s.key, view))
	if st, err := os.Stat(whole); err == nil && st.Size() == s.viewBytes() {
		shards := s.shards
		s.shards = false
		defer func() { s.shards = shards }()
		return s.load(view)
	}
	prefix := fmt.Sprintf("%s-v%d-r", s.key, view)
	names, err := filepath.Glob(filepath.Join(s.persist, prefix+"*.bin"))
	if err != nil {
		return false, fmt.Errorf("features %s: %w", s.persist, err)
	}
	type part struct {
		path  string
		first int
	}
	var parts []part
	for _, n := range names {
		first, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), prefix), ".bin"))
		if err != nil {
			return false, fmt.Errorf("features %s: %s is not a row shard", s.persist, filepath.Base(n))
		}
		parts = append(parts, part{n, first})
	}
	sort.Slice(parts, func(a, b int) bool { return parts[a].first < parts[b].first })
	rb := int64(s.per() * s.elem)
	next := 0
	for _, pt := range parts {
		if pt.first != next {
			return false, fmt.Errorf("features %s: view %d of %s has rows %d to %d missing or twice (next shard starts at %d)", s.persist, view, s.key, next, pt.first-1, pt.first)
		}
		b, err := os.ReadFile(pt.path)
		if err != nil {
			return false, fmt.Errorf("features: %w", err)
		}
		if int64(len(b))%rb != 0 || len(b) == 0 || next+int(int64(len(b))/rb) > s.n {
			return false, fmt.Errorf("features %s: %d bytes is not whole rows of %d bytes within the view's %d", pt.path, len(b), rb, s.n)
		}
		if err := s.putRaw(view, next, b); err != nil {
			return false, err
		}
		next += int(int64(len(b)) / rb)
	}
	if next != s.n {
		return false, fmt.Errorf("features %s: view %d of %s has %d of its %d rows (run trashsort-beam features with this run's plan)", s.persist, view, s.key, next, s.n)
	}
	return true, nil
}

// putRaw stores encoded rows from row first.
func (s *featureStore) putRaw(view, first int, b []byte) error {
	off := int64(first) * int64(s.per()) * int64(s.elem)
	if m := s.mem[view]; m != nil {
		copy(m[off:], b)
		return nil
	}
	if _, err := io.NewOffsetWriter(s.files[view], off).Write(b); err != nil {
		return fmt.Errorf("feature cache: %w", err)
	}
	return nil
}
