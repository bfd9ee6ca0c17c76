package train

import (
	"context"

	"trashsort/data"
	"trashsort/tensor"
)

// batchFunc receives one batch: the activations of the fed layer and the labels.
type batchFunc func(x *tensor.Tensor, labels []int) error

// batchSource provides a stage's batches: images decoded and augmented on
// the fly (liveSource), or activations of frozen layers computed once per
// augmented view (cachedSource). The training loop is the same for both.
type batchSource interface {
	// feed is the layer whose output a stage's batches stand for.
	feed(stage int) int
	// train calls fn on every training batch of an epoch, in the epoch's order.
	train(ctx context.Context, epoch, stage int, fn batchFunc) error
	// val calls fn on every validation batch, in file order.
	val(ctx context.Context, stage int, fn batchFunc) error
	close()
}

// eachBatch calls fn on every batch of a loader's epoch, preprocessed for
// the backbone, and stops at the first error.
func eachBatch(ctx context.Context, l *data.Loader, epoch int, prep func([]float32), fn batchFunc) error {
	for b, err := range l.All(ctx, epoch) {
		if err != nil {
			return err
		}
		prep(b.X.Data)
		if err := fn(b.X, b.Labels); err != nil {
			return err
		}
	}
	return nil
}

// liveSource runs the whole network every epoch (the seed recipe's way).
type liveSource struct {
	t *trainer
}

func (s liveSource) feed(int) int { return s.t.m.Inputs[0] }

func (s liveSource) train(ctx context.Context, epoch, _ int, fn batchFunc) error {
	return eachBatch(ctx, s.t.trainL, epoch, s.t.clf.Preprocess, fn)
}

func (s liveSource) val(ctx context.Context, _ int, fn batchFunc) error {
	return eachBatch(ctx, s.t.valL, 0, s.t.clf.Preprocess, fn)
}

func (liveSource) close() {}

// cachedSource serves stored activations: the pooled features in stage
// one, the cache layer's output in stage two; epoch e uses view e mod views.
type cachedSource struct {
	t              *trainer
	s1, s2, v1, v2 *featureStore
	views          int
	boundary       int
}

func (s *cachedSource) feed(stage int) int {
	if stage == 1 {
		return s.t.gapIdx
	}
	return s.boundary
}

func (s *cachedSource) stores(stage int) (train, val *featureStore) {
	if stage == 1 {
		return s.s1, s.v1
	}
	return s.s2, s.v2
}

func (s *cachedSource) serve(ctx context.Context, store *featureStore, view int, order []int, labelsOf *data.Dataset, fn batchFunc) error {
	batch := s.t.cfg.Batch
	for lo := 0; lo < len(order); lo += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := order[lo:min(lo+batch, len(order))]
		x, err := store.gather(view, idx)
		if err != nil {
			return err
		}
		labels := make([]int, len(idx))
		for k, i := range idx {
			labels[k] = labelsOf.Items[i].Label
		}
		if err := fn(x, labels); err != nil {
			return err
		}
	}
	return nil
}

func (s *cachedSource) train(ctx context.Context, epoch, stage int, fn batchFunc) error {
	store, _ := s.stores(stage)
	return s.serve(ctx, store, epoch%s.views, s.t.trainL.Order(epoch), s.t.trainL.Dataset(), fn)
}

func (s *cachedSource) val(ctx context.Context, stage int, fn batchFunc) error {
	_, store := s.stores(stage)
	order := make([]int, s.t.valL.Len())
	for i := range order {
		order[i] = i
	}
	return s.serve(ctx, store, 0, order, s.t.valL.Dataset(), fn)
}

func (s *cachedSource) close() {
	for _, st := range []*featureStore{s.s1, s.s2, s.v1, s.v2} {
		if st != nil {
			st.close()
		}
	}
}
