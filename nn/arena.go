package nn

import (
	"math"
	"sort"

	"trashsort/tensor"
)

// poison makes the arena fill every buffer it hands out with NaN, so that
// tests catch a layer that leaves values unwritten. Tests set it.
var poison bool

// arena recycles a model's activation buffers across the layers of one
// pass and across passes, so that a forward pass neither asks the
// operating system for fresh memory (page faults) nor zeroes it: on this
// engine that cost as much as a fifth of inference time. A buffer is
// live while a pending layer still reads it; once its last reader has run
// it returns to the free list, and the next allocation takes the smallest
// free buffer that fits. Buffers a layer keeps for its backward pass return
// when the next pass begins; the outputs handed to the caller leave the
// arena for good.
//
// Passes of one model repeat the same requests, so each pass first offers
// request k the buffer that request k got in the previous pass: the
// previous pass's assignment was valid, so it replays whole and the second
// pass allocates nothing. (Best fit alone drifts: a smaller request takes
// a larger buffer that a later request got last time, which then
// allocates, for several passes.)
type arena struct {
	owned map[*float32]*buffer
	free  []*buffer // sorted by capacity
	lent  []*buffer // kept by layers for the backward pass of the last training pass
	// prev and cur are the buffers handed out by the previous and the
	// current pass, in request order.
	prev, cur []*buffer
}

type buffer struct {
	data []float32
	live int
}

func newArena() *arena { return &arena{owned: map[*float32]*buffer{}} }

// get returns an uninitialized tensor of the given shape.
func (a *arena) get(shape ...int) *tensor.Tensor {
	n := tensor.Numel(shape)
	if n == 0 {
		return tensor.New(shape...)
	}
	var b *buffer
	if k := len(a.cur); k < len(a.prev) && cap(a.prev[k].data) >= n {
		b = a.takeFree(a.prev[k])
	}
	if b == nil {
		i := sort.Search(len(a.free), func(i int) bool { return cap(a.free[i].data) >= n })
		if i < len(a.free) {
			b = a.free[i]
			a.free = append(a.free[:i], a.free[i+1:]...)
		} else {
			b = &buffer{data: make([]float32, n)}
		}
	}
	a.cur = append(a.cur, b)
	b.data = b.data[:n]
	a.owned[&b.data[0]] = b
	if poison {
		nan := float32(math.NaN())
		for i := range b.data {
			b.data[i] = nan
		}
	}
	return &tensor.Tensor{Shape: shape, Data: b.data}
}

// takeFree removes b from the free list and returns it, or returns nil
// when b is not free.
func (a *arena) takeFree(b *buffer) *buffer {
	i := sort.Search(len(a.free), func(i int) bool { return cap(a.free[i].data) >= cap(b.data) })
	for ; i < len(a.free) && cap(a.free[i].data) == cap(b.data); i++ {
		if a.free[i] == b {
			a.free = append(a.free[:i], a.free[i+1:]...)
			return b
		}
	}
	return nil
}

// newPass starts a pass: the previous pass's requests become the ones to
// replay, and the buffers lent for its backward pass are free again.
func (a *arena) newPass() {
	a.prev, a.cur = a.cur, a.prev[:0]
	a.reclaim()
}

func (a *arena) lookup(t *tensor.Tensor) *buffer {
	if a == nil || t == nil || len(t.Data) == 0 {
		return nil
	}
	return a.owned[&t.Data[0]]
}

// hold records one more reader of t's buffer.
func (a *arena) hold(t *tensor.Tensor) {
	if b := a.lookup(t); b != nil {
		b.live++
	}
}

// drop records that a reader of t's buffer is done; the last one frees it.
func (a *arena) drop(t *tensor.Tensor) {
	b := a.lookup(t)
	if b == nil {
		return
	}
	if b.live--; b.live > 0 {
		return
	}
	delete(a.owned, &b.data[0])
	b.data = b.data[:cap(b.data)]
	i := sort.Search(len(a.free), func(i int) bool { return cap(a.free[i].data) >= cap(b.data) })
	a.free = append(a.free, nil)
	copy(a.free[i+1:], a.free[i:])
	a.free[i] = b
}

// dropUnheld frees t's buffer when no reader holds it: a value computed
// and consumed at once.
func (a *arena) dropUnheld(t *tensor.Tensor) {
	if b := a.lookup(t); b != nil && b.live <= 0 {
		a.drop(t)
	}
}

// keep removes t's buffer from the arena: it now belongs to whoever holds t.
func (a *arena) keep(t *tensor.Tensor) {
	if b := a.lookup(t); b != nil {
		delete(a.owned, &b.data[0])
	}
	for i, b := range a.lent {
		if len(t.Data) > 0 && len(b.data) > 0 && &b.data[0] == &t.Data[0] {
			a.lent = append(a.lent[:i], a.lent[i+1:]...)
			break
		}
	}
}

// lend lends t's buffer to a layer that keeps it for its backward pass: it
// returns to the free list when the next pass begins (reclaim), since a
// backward pass only ever follows the last forward pass. Training steps
// then reuse their activation memory instead of faulting in new memory
// each step.
func (a *arena) lend(t *tensor.Tensor) {
	if b := a.lookup(t); b != nil {
		delete(a.owned, &b.data[0])
		a.lent = append(a.lent, b)
	}
}

// reclaim returns the lent buffers to the free list.
func (a *arena) reclaim() {
	for _, b := range a.lent {
		b.live = 0
		b.data = b.data[:cap(b.data)]
		i := sort.Search(len(a.free), func(i int) bool { return cap(a.free[i].data) >= cap(b.data) })
		a.free = append(a.free, nil)
		copy(a.free[i+1:], a.free[i:])
		a.free[i] = b
	}
	a.lent = a.lent[:0]
}

// gradBuf returns a tensor for a gradient that the layer's backward pass
// computes: from the model's arena during Model.Backward, which returns it
// to the arena once consumed, else freshly allocated. Its contents are
// undefined when from the arena: the layer must write every value.
func (b *LayerBase) gradBuf(shape ...int) *tensor.Tensor {
	if b.grads != nil {
		return b.grads.get(shape...)
	}
	return tensor.New(shape...)
}

// doneWith returns a temporary from gradBuf that the layer no longer
// needs (and returns to no one) to the arena.
func (b *LayerBase) doneWith(t *tensor.Tensor) {
	if b.grads != nil {
		b.grads.dropUnheld(t)
	}
}

// alloc returns a tensor for a layer's output: from the pass's arena when
// there is one, else freshly allocated. Its contents are undefined when
// from the arena: the layer must write every value.
func (m Mode) alloc(shape ...int) *tensor.Tensor {
	if m.arena != nil {
		return m.arena.get(shape...)
	}
	return tensor.New(shape...)
}
