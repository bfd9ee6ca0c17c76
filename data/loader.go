package data

import (
	"context"
	"fmt"
	"io/fs"
	"iter"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"

	"trashsort/tensor"
)

// Config sets how a Loader turns files into batches.
type Config struct {
	// Size is the square target size; Resize is Bilinear (default) or Nearest.
	Size   int
	Resize string
	// Augment is applied per image and epoch; nil means none.
	Augment *Augment
	// BatchSize defaults to 32.
	BatchSize int
	// Shuffle reorders the items every epoch.
	Shuffle bool
	// Seed fixes shuffling and augmentation, whatever the number of workers.
	Seed uint64
	// Workers decode and augment in parallel (default: the number of CPUs).
	Workers int
	// Cache keeps decoded, resized images in memory after the first read.
	Cache bool
	// Strict fails on the first bad file instead of reporting and skipping it.
	Strict bool
	// Report is told about every skipped file.
	Report func(path string, err error)
	// Sizes are more square sizes at which each image is also resized from
	// the decoded original, for multi-scale evaluation (Batch.Views); not
	// with Augment.
	Sizes []int
}

// Loader produces batches of float32 NHWC images with values in [0, 255].
type Loader struct {
	ds  *Dataset
	cfg Config
	*images
	// backgrounds are the photos of Augment.Backgrounds at the input size.
	backgrounds []*RGB
}

// images is the decoded-image cache, shareable between loaders of one dataset.
type images struct {
	mu    sync.Mutex
	cache map[int]*RGB
	bad   map[int]error
}

// Share makes l use other's decoded images; both must read the same dataset
// at the same size (for example an ordered and a shuffled view of one set).
func (l *Loader) Share(other *Loader) {
	if l.ds == other.ds && l.cfg.Size == other.cfg.Size && l.cfg.Resize == other.cfg.Resize {
		l.images = other.images
	}
}

// NewLoader checks the configuration and returns a loader over ds.
func NewLoader(ds *Dataset, cfg Config) (*Loader, error) {
	if cfg.Size < 1 {
		return nil, fmt.Errorf("loader: size %d", cfg.Size)
	}
	if cfg.Resize == "" {
		cfg.Resize = Bilinear
	}
	if cfg.Resize != Bilinear && cfg.Resize != Nearest {
		return nil, fmt.Errorf("loader: unknown resize %q (bilinear or nearest)", cfg.Resize)
	}
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 32
	}
	if cfg.Workers < 1 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Augment != nil {
		if err := cfg.Augment.Validate(); err != nil {
			return nil, err
		}
		if len(cfg.Sizes) > 0 {
			return nil, fmt.Errorf("loader: extra sizes %v are for evaluation, not with augmentation", cfg.Sizes)
		}
	}
	var extra []int
	for _, s := range cfg.Sizes {
		if s < 1 {
			return nil, fmt.Errorf("loader: size %d", s)
		}
		if s != cfg.Size && !slices.Contains(extra, s) {
			extra = append(extra, s)
		}
	}
	cfg.Sizes = extra
	l := &Loader{ds: ds, cfg: cfg, images: &images{cache: map[int]*RGB{}, bad: map[int]error{}}}
	if cfg.Augment != nil && cfg.Augment.Backgrounds != "" {
		if err := l.loadBackgrounds(cfg.Augment.Backgrounds); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Dataset returns the loader's dataset.
func (l *Loader) Dataset() *Dataset { return l.ds }

// Config returns the effective configuration.
func (l *Loader) Config() Config { return l.cfg }

// image returns item i decoded and resized, from the cache when enabled.
func (l *Loader) image(i int) (*RGB, error) {
	l.mu.Lock()
	img, ok := l.cache[i]
	bad := l.bad[i]
	l.mu.Unlock()
	if ok {
		return img, nil
	}
	if bad != nil {
		return nil, bad
	}
	img, err := l.decode(i)
	if err != nil {
		return nil, err
	}
	img = Resize(img, l.cfg.Size, l.cfg.Size, l.cfg.Resize)
	if l.cfg.Cache {
		l.mu.Lock()
		l.cache[i] = img
		l.mu.Unlock()
	}
	return img, nil
}

// decode reads item i at its own size, remembering (and reporting once)
// a file that fails.
func (l *Loader) decode(i int) (*RGB, error) {
	img, err := DecodeFile(l.ds.Items[i].Path)
	if err == nil {
		return img, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bad[i] == nil && l.cfg.Report != nil {
		l.cfg.Report(l.ds.Items[i].Path, err)
	}
	l.bad[i] = err
	return nil, err
}

// Prepare decodes every image once (filling the cache when enabled) and
// drops the bad ones, reporting each; with Strict the first is an error.
// It returns the number skipped.
func (l *Loader) Prepare(ctx context.Context) (int, error) {
	idx := make(chan int)
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for w := 0; w < l.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if _, err := l.image(i); err != nil && l.cfg.Strict {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for i := range l.ds.Items {
		select {
		case idx <- i:
		case <-ctx.Done():
			close(idx)
			wg.Wait()
			return 0, ctx.Err()
		}
	}
	close(idx)
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		var keep []Item
		for i, it := range l.ds.Items {
			if l.bad[i] == nil {
				keep = append(keep, it)
			}
		}
		// Re-index the cache to the kept items.
		cache := map[int]*RGB{}
		k := 0
		for i := range l.ds.Items {
			if l.bad[i] == nil {
				if img, ok := l.cache[i]; ok {
					cache[k] = img
				}
				k++
			}
		}
		n := len(l.bad)
		l.ds = &Dataset{Root: l.ds.Root, Classes: l.ds.Classes, Items: keep, Origins: l.ds.Origins}
		l.cache, l.bad = cache, map[int]error{}
		if len(keep) == 0 {
			return n, fmt.Errorf("loader: every image in %s failed to decode", l.ds.Root)
		}
		return n, nil
	}
	return 0, nil
}

// Len is the number of items.
func (l *Loader) Len() int { return len(l.ds.Items) }

// Batches is the number of batches per epoch (the last may be short).
func (l *Loader) Batches() int { return (l.Len() + l.cfg.BatchSize - 1) / l.cfg.BatchSize }

// Order returns the item order of an epoch: all items, shuffled with
// Shuffle; with origins of different weights (Combine), as many draws
// with replacement in proportion to the weights.
func (l *Loader) Order(epoch int) []int {
	order := make([]int, l.Len())
	for i := range order {
		order[i] = i
	}
	if l.cfg.Shuffle {
		r := rand.New(rand.NewPCG(l.cfg.Seed, uint64(epoch)*0x9e3779b97f4a7c15+1))
		if w := l.ds.weightedOrder(r); w != nil {
			return w
		}
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// Render writes item i as seen in the given view (epoch) into dst (Size*Size*3 values).
func (l *Loader) Render(i, view int, dst []float32) error {
	img, err := l.image(i)
	if err != nil {
		return err
	}
	if l.cfg.Augment == nil {
		img.AppendFloats(dst[:0])
		return nil
	}
	r := rand.New(rand.NewPCG(l.cfg.Seed^uint64(view)*0xbf58476d1ce4e5b9, uint64(i)+1))
	t := l.cfg.Augment.Random(r, img.H, img.W)
	if t.BgKind != bgNone {
		if img, err = l.composite(img, i, t); err != nil {
			return err
		}
	}
	fill := l.cfg.Augment.FillMode
	if fill == "" {
		fill = "nearest"
	}
	t.Apply(img, dst, fill, l.cfg.Augment.Cval)
	return nil
}

// Batch is one batch: images [n, Size, Size, 3] in [0, 255], labels and item indices.
type Batch struct {
	Index  int
	X      *tensor.Tensor
	Labels []int
	Items  []int
	// Skipped lists items of this batch that failed to decode (without Prepare).
	Skipped []int
	// Views holds the images at Size (X) and at each of Config.Sizes, keyed
	// by size; nil without Config.Sizes.
	Views map[int]*tensor.Tensor
}

// Images returns the batch's images keyed by size: Views, or X alone.
func (b Batch) Images() map[int]*tensor.Tensor {
	if b.Views != nil {
		return b.Views
	}
	return map[int]*tensor.Tensor{b.X.Shape[1]: b.X}
}

// Epoch streams the batches of an epoch in order, built by parallel workers
// with a prefetch queue. The channel closes at the end or on cancellation;
// the error function reports why it stopped early.
func (l *Loader) Epoch(ctx context.Context, epoch int) (<-chan Batch, func() error) {
	order := l.Order(epoch)
	nb := l.Batches()
	out := make(chan Batch, l.cfg.Workers)
	slots := make([]chan Batch, nb)
	for i := range slots {
		slots[i] = make(chan Batch, 1)
	}
	var errMu sync.Mutex
	var runErr error
	setErr := func(err error) {
		errMu.Lock()
		if runErr == nil {
			runErr = err
		}
		errMu.Unlock()
	}
	ctx, cancel := context.WithCancel(ctx)
	// A window of batches in flight bounds memory. Tokens are taken in batch
	// order, before a batch is handed to a worker, so the batch the consumer
	// waits for always holds one.
	sem := make(chan struct{}, 2*l.cfg.Workers)
	next := make(chan int)
	go func() {
		defer close(next)
		for b := 0; b < nb; b++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < l.cfg.Workers; w++ {
		go func() {
			for b := range next {
				bt, err := l.build(b, order, epoch)
				if err != nil {
					setErr(err)
					cancel()
					return
				}
				slots[b] <- bt
			}
		}()
	}
	go func() {
		defer close(out)
		defer cancel()
		for b := 0; b < nb; b++ {
			select {
			case bt := <-slots[b]:
				<-sem
				select {
				case out <- bt:
				case <-ctx.Done():
					setErr(ctx.Err())
					return
				}
			case <-ctx.Done():
				setErr(ctx.Err())
				return
			}
		}
	}()
	return out, func() error {
		errMu.Lock()
		defer errMu.Unlock()
		return runErr
	}
}

// All is Epoch as a range-over-func sequence: each batch with a nil error,
// in order, then, when the epoch stopped early (a bad file with Strict, a
// cancelled ctx), one pair with the reason. Leaving the loop early stops
// the workers and waits for them, so no caller drains a channel by hand.
func (l *Loader) All(ctx context.Context, epoch int) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, errf := l.Epoch(ctx, epoch)
		for b := range ch {
			if !yield(b, nil) {
				cancel()
				for range ch {
				}
				return
			}
		}
		if err := errf(); err != nil {
			yield(Batch{}, err)
		}
	}
}

// Images is All with each batch's images (Batch.X) alone, for callers
// that need no labels.
func (l *Loader) Images(ctx context.Context, epoch int) iter.Seq2[*tensor.Tensor, error] {
	return func(yield func(*tensor.Tensor, error) bool) {
		for b, err := range l.All(ctx, epoch) {
			if !yield(b.X, err) {
				return
			}
		}
	}
}

func (l *Loader) build(b int, order []int, epoch int) (Batch, error) {
	if len(l.cfg.Sizes) > 0 {
		return l.buildSizes(b, order)
	}
	lo := b * l.cfg.BatchSize
	hi := min(lo+l.cfg.BatchSize, len(order))
	s := l.cfg.Size
	per := s * s * 3
	bt := Batch{Index: b}
	x := make([]float32, 0, (hi-lo)*per)
	for _, i := range order[lo:hi] {
		x = x[:len(x)+per]
		if err := l.Render(i, epoch, x[len(x)-per:]); err != nil {
			if l.cfg.Strict {
				return bt, err
			}
			x = x[:len(x)-per]
			bt.Skipped = append(bt.Skipped, i)
			continue
		}
		bt.Labels = append(bt.Labels, l.ds.Items[i].Label)
		bt.Items = append(bt.Items, i)
	}
	bt.X = &tensor.Tensor{Shape: []int{len(bt.Labels), s, s, 3}, Data: x}
	return bt, nil
}

// buildSizes builds batch b with Views: each image decoded once and
// resized to Size and every size of Config.Sizes.
func (l *Loader) buildSizes(b int, order []int) (Batch, error) {
	lo := b * l.cfg.BatchSize
	hi := min(lo+l.cfg.BatchSize, len(order))
	sizes := append([]int{l.cfg.Size}, l.cfg.Sizes...)
	xs := make([][]float32, len(sizes))
	bt := Batch{Index: b, Views: map[int]*tensor.Tensor{}}
	for _, i := range order[lo:hi] {
		img, err := l.decode(i)
		if err != nil {
			if l.cfg.Strict {
				return bt, err
			}
			bt.Skipped = append(bt.Skipped, i)
			continue
		}
		for k, s := range sizes {
			xs[k] = Resize(img, s, s, l.cfg.Resize).AppendFloats(xs[k])
		}
		bt.Labels = append(bt.Labels, l.ds.Items[i].Label)
		bt.Items = append(bt.Items, i)
	}
	for k, s := range sizes {
		bt.Views[s] = &tensor.Tensor{Shape: []int{len(bt.Labels), s, s, 3}, Data: xs[k]}
	}
	bt.X = bt.Views[l.cfg.Size]
	return bt, nil
}

// maxBackgrounds bounds the background photos kept in memory.
const maxBackgrounds = 2000

// loadBackgrounds decodes every image below dir at the input size.
func (l *Loader) loadBackgrounds(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && IsImageName(e.Name()) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backgrounds: %w", err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("backgrounds: no images in %s", dir)
	}
	sort.Strings(paths)
	if len(paths) > maxBackgrounds {
		paths = paths[:maxBackgrounds]
	}
	for _, p := range paths {
		img, err := DecodeFile(p)
		if err != nil {
			return fmt.Errorf("backgrounds: %w", err)
		}
		l.backgrounds = append(l.backgrounds, Resize(img, l.cfg.Size, l.cfg.Size, l.cfg.Resize))
	}
	return nil
}

// composite puts item i's photo onto the background t draws.
func (l *Loader) composite(img *RGB, i int, t Transform) (*RGB, error) {
	var otherErr error
	other := func(r *rand.Rand) *RGB {
		j := r.IntN(l.Len())
		if j == i && l.Len() > 1 {
			j = (j + 1) % l.Len()
		}
		o, err := l.image(j)
		if err != nil {
			otherErr = err
			return img
		}
		return o
	}
	photo := func(r *rand.Rand) *RGB {
		if len(l.backgrounds) == 0 {
			return other(r)
		}
		return l.backgrounds[r.IntN(len(l.backgrounds))]
	}
	bg := background(t.BgKind, t.BgSeed, img.W, img.H, other, photo)
	if otherErr != nil {
		// Another photo failing to decode is that photo's problem, reported
		// where it is loaded; this one goes on a generated background.
		bg = background(bgNoise, t.BgSeed, img.W, img.H, nil, nil)
	}
	r := rand.New(rand.NewPCG(t.BgSeed, 0x73686164))
	shadow := 0.5 * r.Float64()
	dx, dy := r.IntN(img.W/15+1)-img.W/30, r.IntN(img.H/15+1)-img.H/30
	return Composite(img, bg, shadow, dx, dy), nil
}
