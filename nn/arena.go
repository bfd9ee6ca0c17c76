package nn

import (
	"sort"

	"trashsort/tensor"
)

// arena recycles a model's activation buffers across the layers of one
// pass and across passes, so that a forward pass neither asks the
// operating system for fresh memory (page faults) nor zeroes it: on this
// engine that cost as much as a fifth of inference time. A buffer is
// live while a pending layer still reads it; once its last reader has run
// it returns to the free list, and the next allocation takes the smallest
// free buffer that fits. Buffers a layer keeps for its backward pass, and
// the outputs handed to the caller, leave the arena for good.
type arena struct {
	owned map[*float32]*buffer
	free  []*buffer // sorted by capacity
	lent  []*buffer // kept by layers for the backward pass of the last training pass
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
	i := sort.Search(len(a.free), func(i int) bool { return cap(a.free[i].data) >= n })
	var b *buffer
	if i < len(a.free) {
		b = a.free[i]
		a.free = append(a.free[:i], a.free[i+1:]...)
	} else {
		b = &buffer{data: make([]float32, n)}
	}
	b.data = b.data[:n]
	a.owned[&b.data[0]] = b
	return &tensor.Tensor{Shape: shape, Data: b.data}
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

// alloc returns a tensor for a layer's output: from the pass's arena when
// there is one, else freshly allocated. Its contents are undefined when
// from the arena: the layer must write every value.
func (m Mode) alloc(shape ...int) *tensor.Tensor {
	if m.arena != nil {
		return m.arena.get(shape...)
	}
	return tensor.New(shape...)
}
