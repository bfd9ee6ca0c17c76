// Package dnnl runs the engine's kernels through oneDNN, the CPU kernel
// library under PyTorch and TensorFlow. It is one of the two packages that
// use cgo; its API speaks only Go slices and tensor.ConvGeom.
//
// Every primitive is created once per shape and kept in a cache. All calls
// run on one locked OS thread, so oneDNN's OpenMP thread pool is created once
// and the cached primitives and their internal buffers are never used
// concurrently; callers may call from any goroutine.
package dnnl

/*
#cgo CFLAGS: -fopenmp
#cgo LDFLAGS: -ldnnl -fopenmp
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

var (
	startOnce sync.Once
	calls     chan func()
	engine    C.dnnl_engine_t
	stream    C.dnnl_stream_t
	startErr  error

	// engineTid is the engine's OS thread, to which its goroutine is locked.
	engineTid int

	cache  = map[any]*op{}
	hits   atomic.Int64
	misses atomic.Int64
)

// Stats reports the primitive cache's hits and misses (a miss creates primitives).
func Stats() (hit, miss int64) { return hits.Load(), misses.Load() }

// do runs fn on the oneDNN thread and waits for it; called on that thread
// (inside Exclusive), it runs fn directly. A panic in fn is raised again
// in the caller's goroutine.
func do(fn func() error) error {
	startOnce.Do(start)
	if startErr != nil {
		return startErr
	}
	if syscall.Gettid() == engineTid {
		return fn()
	}
	done := make(chan error, 1)
	calls <- func() { done <- guarded(fn) }
	err := <-done
	if p, ok := err.(enginePanic); ok {
		panic(fmt.Sprintf("%v\n\non the engine's thread:\n%s", p.value, p.stack))
	}
	return err
}

// Exclusive runs fn on the engine's thread and returns its error. The
// calls fn makes to this package then run directly instead of each being
// handed to that thread and back, which costs about 25 µs a call on a
// 2-core VM: a forward pass makes about a hundred. fn must not wait for
// another goroutine that calls this package, which would wait for fn.
func Exclusive(fn func() error) error { return do(fn) }

// enginePanic carries a panic on the engine's thread back to the caller.
type enginePanic struct {
	value any
	stack []byte
}

func (p enginePanic) Error() string { return fmt.Sprint("panic: ", p.value) }

// guarded runs fn, turning a panic into an enginePanic so that the
// engine's thread survives it.
func guarded(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = enginePanic{r, debug.Stack()}
		}
	}()
	return fn()
}

func start() {
	calls = make(chan func())
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		engineTid = syscall.Gettid()
		C.ts_start_workers()
		if st := C.dnnl_engine_create(&engine, C.dnnl_cpu, 0); st != C.dnnl_success {
			ready <- statusErr(st, "create CPU engine")
			return
		}
		if st := C.dnnl_stream_create(&stream, engine, C.dnnl_stream_default_flags); st != C.dnnl_success {
			ready <- statusErr(st, "create stream")
			return
		}
		ready <- nil
		for fn := range calls {
			fn()
		}
	}()
	startErr = <-ready
}

func statusErr(st C.dnnl_status_t, what string) error {
	return fmt.Errorf("dnnl: %s: %s", what, C.GoString(C.dnnl_status2str(st)))
}

func check(st C.dnnl_status_t, what string) error {
	if st == C.dnnl_success {
		return nil
	}
	return statusErr(st, what)
}

// Version is oneDNN's version and CPU runtime, e.g. "2.6.3 (cpu omp)".
func Version() string {
	v := C.dnnl_version()
	return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
}

// ISA is the instruction set oneDNN dispatches to on this CPU.
func ISA() string { return isa() }

// isa asks oneDNN once: the answer is fixed for the process (oneDNN reads
// ONEDNN_MAX_CPU_ISA at its first use), and the int8 and bf16 choices
// consult it on every convolution.
var isa = sync.OnceValue(func() string {
	switch C.dnnl_get_effective_cpu_isa() {
	case C.dnnl_cpu_isa_avx512_core_amx:
		return "avx512_core_amx"
	case C.dnnl_cpu_isa_avx512_core_bf16:
		return "avx512_core_bf16"
	case C.dnnl_cpu_isa_avx512_core_vnni:
		return "avx512_core_vnni"
	case C.dnnl_cpu_isa_avx512_core:
		return "avx512_core"
	case C.dnnl_cpu_isa_avx2_vnni:
		return "avx2_vnni"
	case C.dnnl_cpu_isa_avx2:
		return "avx2"
	default:
		return "other"
	}
})

// op is a cached sequence of primitives (reorders and the main one) with the
// internal buffers they share.
type op struct {
	steps []*C.ts_step
	mems  []C.dnnl_memory_t
	impl  string
	ws    int // workspace bytes, for max pooling
	temps []temp

	// Forward convolutions: the steps that reorder the input and the
	// weights (-1 when absent), the weights layout the kernel wants and the
	// op's own buffer for weights reordered on each call.
	xStep, wStep int
	// Winograd convolutions compute in a blocked layout: the step that
	// reorders their output back to NHWC (main is the step before it);
	// -1 when absent.
	yStep int
	wWant C.dnnl_memory_desc_t
	wOwn  unsafe.Pointer
}

// h is the handle list of one step; nil entries keep the bound memory.
type h [8]unsafe.Pointer

func (o *op) run(i int, hs h) error {
	for _, t := range o.temps {
		if err := check(C.dnnl_memory_set_data_handle(t.mem, scratchBuf(t.id, t.size)), "scratch buffer"); err != nil {
			return err
		}
	}
	st := C.ts_run(o.steps[i], stream, hs[0], hs[1], hs[2], hs[3], hs[4], hs[5], hs[6], hs[7])
	return check(st, "execute "+o.impl)
}

// temp is an op's temporary activation-sized memory (an input converted
// for the kernel, or its output before conversion): it lives in scratch
// buffer id, shared by all ops, for the length of one call.
type temp struct {
	mem  C.dnnl_memory_t
	id   int
	size int
}

// scratch holds the ops' temporaries. All ops run one at a time on the
// oneDNN thread, and an op's temporaries with different ids never
// overlap, so two buffers, grown when an op that needs more is built, do
// for all: the memory a model's pass needs for them is the largest
// single one, not their sum, and it is touched (faulted in) once.
var scratch [2][]byte

// scratchBuf returns the 64-byte aligned start of scratch buffer id,
// growing it to at least size bytes (only when ops are built, so that a
// buffer never moves between the steps of one call). It runs on the
// oneDNN thread.
func scratchBuf(id, size int) unsafe.Pointer {
	if len(scratch[id]) < size+64 {
		scratch[id] = make([]byte, size+64)
	}
	p := unsafe.Pointer(&scratch[id][0])
	if r := uintptr(p) % 64; r != 0 {
		p = unsafe.Add(p, 64-r)
	}
	return p
}

// runWeightsIn runs an op whose optional first step reorders the user's
// weights w into the layout the main (last) step wants; slot is the index of
// the weights among the main step's handles.
func (o *op) runWeightsIn(w unsafe.Pointer, main h, slot int) error {
	main[slot] = w
	if len(o.steps) == 2 {
		if err := o.run(0, h{w}); err != nil {
			return err
		}
		main[slot] = nil
	}
	return o.run(len(o.steps)-1, main)
}

// runGradsOut runs an op whose main step (index main, after any input
// conversions) computes weight gradients into the op's own buffers, and
// whose next steps add them to the user's dw and, when the op has a bias
// gradient, db (see builder.gradsOut).
func (o *op) runGradsOut(main int, hs h, dw, db unsafe.Pointer) error {
	if err := o.run(main, hs); err != nil {
		return err
	}
	if err := o.run(main+1, h{nil, dw}); err != nil {
		return err
	}
	if main+2 < len(o.steps) {
		return o.run(main+2, h{nil, db})
	}
	return nil
}

// cached returns the op for key, building it on a miss. It runs on the oneDNN thread.
func cached(key any, build func() (*op, error)) (*op, error) {
	if o, ok := cache[key]; ok {
		hits.Add(1)
		return o, nil
	}
	misses.Add(1)
	o, err := build()
	if err != nil {
		return nil, err
	}
	cache[key] = o
	return o, nil
}

// ptr returns the address of a slice's first element, or nil when empty.
func ptr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// md builds a float32 memory descriptor. dims are in oneDNN's logical order
// (N, C, H, W for data; O, I, H, W or G, O, I, H, W for weights).
func md(tag C.int, dims ...int) (C.dnnl_memory_desc_t, error) {
	return mdOf(F32, tag, dims...)
}

// mdOf builds a memory descriptor of the given data type.
func mdOf(dt DataType, tag C.int, dims ...int) (C.dnnl_memory_desc_t, error) {
	var m C.dnnl_memory_desc_t
	var d [5]C.int64_t
	for i, v := range dims {
		d[i] = C.int64_t(v)
	}
	st := C.ts_md(&m, C.int(len(dims)), d[0], d[1], d[2], d[3], d[4], tag, dt.c())
	return m, check(st, fmt.Sprintf("memory descriptor %v", dims))
}

// builder accumulates the pieces of an op while it is being created.
type builder struct {
	o   *op
	pds []C.dnnl_primitive_desc_t
	err error
}

func (b *builder) memory(m *C.dnnl_memory_desc_t, allocate bool) C.dnnl_memory_t {
	var mem C.dnnl_memory_t
	if b.err != nil {
		return mem
	}
	handle := unsafe.Pointer(nil)
	if allocate {
		handle = C.ts_allocate()
	}
	b.err = check(C.dnnl_memory_create(&mem, m, engine, handle), "create memory")
	if b.err == nil {
		b.o.mems = append(b.o.mems, mem)
	}
	return mem
}

// temp returns a memory for an op's temporary of descriptor m, kept in
// scratch buffer id (see scratch).
func (b *builder) temp(m *C.dnnl_memory_desc_t, id int) C.dnnl_memory_t {
	mem := b.memory(m, false)
	if b.err == nil {
		size := int(C.dnnl_memory_desc_get_size(m))
		b.o.temps = append(b.o.temps, temp{mem, id, size})
		scratchBuf(id, size)
	}
	return mem
}

// step creates the primitive of pd and binds the arguments in order.
func (b *builder) step(pd C.dnnl_primitive_desc_t, args ...any) {
	if b.err != nil {
		return
	}
	var st C.dnnl_status_t
	s := C.ts_step_new(C.const_dnnl_primitive_desc_t(pd), &st)
	if s == nil {
		b.err = statusErr(st, "create primitive")
		return
	}
	for i := 0; i < len(args); i += 2 {
		C.ts_step_add(s, C.int(args[i].(int)), args[i+1].(C.dnnl_memory_t))
	}
	b.o.steps = append(b.o.steps, s)
}

// reorder adds a reorder step from memory src (desc a) to dst (desc z).
func (b *builder) reorder(a, z *C.dnnl_memory_desc_t, src, dst C.dnnl_memory_t) {
	b.reorderAttr(a, z, src, dst, nil, "create reorder")
}

// reorderAttr adds a reorder step whose primitive attribute set, when not
// nil, configures (a post-op, output scales); what names it in errors.
func (b *builder) reorderAttr(a, z *C.dnnl_memory_desc_t, src, dst C.dnnl_memory_t, set func(C.dnnl_primitive_attr_t) C.dnnl_status_t, what string) {
	if b.err != nil {
		return
	}
	var attr C.dnnl_primitive_attr_t
	if set != nil {
		if b.err = check(C.dnnl_primitive_attr_create(&attr), "attr"); b.err != nil {
			return
		}
		defer C.dnnl_primitive_attr_destroy(attr)
		if b.err = check(set(attr), what); b.err != nil {
			return
		}
	}
	var pd C.dnnl_primitive_desc_t
	b.err = check(C.dnnl_reorder_primitive_desc_create(&pd, a, engine, z, engine, C.const_dnnl_primitive_attr_t(attr)), what)
	if b.err != nil {
		return
	}
	b.pds = append(b.pds, pd)
	b.step(pd, C.DNNL_ARG_FROM, src, C.DNNL_ARG_TO, dst)
}

// gradsOut returns the op's own memories for a backward-weights
// primitive's weight gradient (in the layout the primitive wants, want) and,
// when bias is set, its bias gradient; addGrads then adds them to the user's.
func (b *builder) gradsOut(want *C.dnnl_memory_desc_t, bias *C.dnnl_memory_desc_t) (mw, mb C.dnnl_memory_t) {
	mw = b.memory(want, true)
	if bias != nil {
		mb = b.memory(bias, true)
	}
	return mw, mb
}

// addGrads adds the steps that add the gradients in the op's own memories
// mw and mb (from gradsOut) to the user's buffers, in the Keras weights
// layout wUser: a reorder with a sum post-op each, so that gradients
// accumulate across the layers that share a weight and the batches of one
// step, as Keras' do, without a temporary.
func (b *builder) addGrads(want, wUser *C.dnnl_memory_desc_t, mw C.dnnl_memory_t, bias *C.dnnl_memory_desc_t, mb C.dnnl_memory_t) {
	b.reorderAdd(want, wUser, mw, b.memory(wUser, false))
	if bias != nil {
		b.reorderAdd(bias, bias, mb, b.memory(bias, false))
	}
}

// reorderAdd adds a step that adds memory src (desc a) to dst (desc z),
// converting the layout.
func (b *builder) reorderAdd(a, z *C.dnnl_memory_desc_t, src, dst C.dnnl_memory_t) {
	b.reorderAttr(a, z, src, dst, func(attr C.dnnl_primitive_attr_t) C.dnnl_status_t { return C.ts_post_sum(attr) }, "create accumulating reorder")
}

// reorderScaled adds a reorder step that multiplies by *scale on the way
// (quantization).
func (b *builder) reorderScaled(a, z *C.dnnl_memory_desc_t, src, dst C.dnnl_memory_t, scale *C.float) {
	b.reorderAttr(a, z, src, dst, func(attr C.dnnl_primitive_attr_t) C.dnnl_status_t {
		return C.dnnl_primitive_attr_set_output_scales(attr, 1, 0, scale)
	}, "create quantizing reorder")
}

// pd creates a primitive descriptor for an op descriptor.
func (b *builder) pd(desc unsafe.Pointer, attr C.dnnl_primitive_attr_t, hint C.dnnl_primitive_desc_t, what string) C.dnnl_primitive_desc_t {
	var pd C.dnnl_primitive_desc_t
	if b.err != nil {
		return pd
	}
	b.err = check(C.dnnl_primitive_desc_create(&pd, C.const_dnnl_op_desc_t(desc), C.const_dnnl_primitive_attr_t(attr), engine, C.const_dnnl_primitive_desc_t(hint)), what)
	if b.err == nil {
		b.pds = append(b.pds, pd)
	}
	return pd
}

// postOp returns a primitive attribute with act as an eltwise post-op, or
// nil for Linear; the caller destroys a non-nil one after creating the
// primitive descriptor.
func (b *builder) postOp(act Activation) C.dnnl_primitive_attr_t {
	return b.postOpScaled(act, 0)
}

// postOpScaled is postOp for a destination whose values are scaled by s
// (s > 0; a u8 output's scale): ReLU6's upper bound becomes 6*s.
func (b *builder) postOpScaled(act Activation, s float32) C.dnnl_primitive_attr_t {
	alg, alpha, beta, ok := act.eltwise()
	if b.err != nil || !ok {
		return nil
	}
	if act == ReLU6 && s > 0 {
		beta *= C.float(s)
	}
	var attr C.dnnl_primitive_attr_t
	if b.err = check(C.dnnl_primitive_attr_create(&attr), "attr"); b.err != nil {
		return nil
	}
	if b.err = check(C.ts_post_eltwise(attr, alg, alpha, beta), "post-op "+act.String()); b.err != nil {
		C.dnnl_primitive_attr_destroy(attr)
		return nil
	}
	return attr
}

func freeAttr(attr C.dnnl_primitive_attr_t) {
	if attr != nil {
		C.dnnl_primitive_attr_destroy(attr)
	}
}

func (b *builder) query(pd C.dnnl_primitive_desc_t, what C.dnnl_query_t) *C.dnnl_memory_desc_t {
	return C.dnnl_primitive_desc_query_md(C.const_dnnl_primitive_desc_t(pd), what, 0)
}

// adapt returns a memory in the layout pd wants for the argument queried by
// what, and whether it differs from the user's layout (then a reorder is needed).
func (b *builder) adapt(pd C.dnnl_primitive_desc_t, what C.dnnl_query_t, user *C.dnnl_memory_desc_t) (*C.dnnl_memory_desc_t, bool) {
	want := b.query(pd, what)
	if C.dnnl_memory_desc_equal(want, user) != 0 {
		return user, false
	}
	return want, true
}

// finish frees the descriptors and returns the op, or cleans up on error.
func (b *builder) finish(main C.dnnl_primitive_desc_t) (*op, error) {
	if b.err == nil && main != nil {
		b.o.impl = C.GoString(C.ts_impl(C.const_dnnl_primitive_desc_t(main)))
	}
	for _, pd := range b.pds {
		C.dnnl_primitive_desc_destroy(pd)
	}
	if b.err != nil {
		for _, s := range b.o.steps {
			C.ts_step_free(s)
		}
		for _, m := range b.o.mems {
			C.dnnl_memory_destroy(m)
		}
		return nil, b.err
	}
	return b.o, nil
}

func newBuilder() *builder { return &builder{o: &op{yStep: -1}} }
