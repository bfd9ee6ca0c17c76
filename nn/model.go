package nn

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"trashsort/dnnl"

	"trashsort/tensor"
)

// Node is the output of a layer inside a Graph under construction.
type Node struct{ idx int }

// Graph builds a functional model: layers are numbered in the order they are
// applied, which is Keras' model.layers order for the zoo's models.
type Graph struct {
	layers []Layer
	names  map[string]bool
	err    error
}

// NewGraph returns an empty graph.
func NewGraph() *Graph { return &Graph{names: map[string]bool{}} }

// Err is the first error met while building, if any.
func (g *Graph) Err() error { return g.err }

// Apply adds layer l fed by the given nodes and returns its output node.
// Errors (duplicate names, shape mismatches) are kept and returned by Build.
func (g *Graph) Apply(l Layer, in ...Node) Node {
	if g.err != nil {
		return Node{-1}
	}
	b := l.Base()
	if g.names[b.name] {
		g.err = fmt.Errorf("duplicate layer name %q", b.name)
		return Node{-1}
	}
	var shapes [][]int
	for _, n := range in {
		if n.idx < 0 || n.idx >= len(g.layers) {
			g.err = fmt.Errorf("layer %q: input is not a node of this graph", b.name)
			return Node{-1}
		}
		b.inputs = append(b.inputs, n.idx)
		shapes = append(shapes, g.layers[n.idx].Base().outShape)
	}
	out, err := l.OutputShape(shapes)
	if err != nil {
		g.err = err
		return Node{-1}
	}
	b.inShapes, b.outShape = shapes, out
	b.index = len(g.layers)
	g.names[b.name] = true
	g.layers = append(g.layers, l)
	return Node{b.index}
}

// Input adds an input layer.
func (g *Graph) Input(l *InputLayer) Node { return g.Apply(l) }

// Build returns the model whose output is out, with its layers in Keras'
// model.layers order: by decreasing depth from the output, ties broken by the
// order of a depth-first traversal from the output (Keras' _map_graph_network).
func (g *Graph) Build(out Node) (*Model, error) {
	if g.err != nil {
		return nil, g.err
	}
	if out.idx < 0 || out.idx >= len(g.layers) {
		return nil, errors.New("build: output is not a node of this graph")
	}
	order := kerasOrder(g.layers, out.idx)
	newIdx := make([]int, len(g.layers))
	for i := range newIdx {
		newIdx[i] = -1
	}
	for k, old := range order {
		newIdx[old] = k
	}
	layers := make([]Layer, len(order))
	for k, old := range order {
		l := g.layers[old]
		b := l.Base()
		b.index = k
		for i, j := range b.inputs {
			b.inputs[i] = newIdx[j]
		}
		layers[k] = l
	}
	m := &Model{Layers: layers, Output: newIdx[out.idx], byName: map[string]int{}}
	m.consumers = make([][]int, len(layers))
	for i, l := range layers {
		m.byName[l.Base().name] = i
		for _, j := range l.Base().inputs {
			m.consumers[j] = append(m.consumers[j], i)
		}
		if _, ok := l.(*InputLayer); ok {
			m.Inputs = append(m.Inputs, i)
		}
	}
	return m, nil
}

// kerasOrder returns the indices of the layers that out depends on, in
// Keras' order. Layers not reachable from out are dropped.
func kerasOrder(layers []Layer, out int) []int {
	disc := map[int]int{} // layer -> discovery (pre-order) index
	var post []int
	done := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if done[i] {
			return
		}
		if _, ok := disc[i]; !ok {
			disc[i] = len(disc)
		}
		for _, j := range layers[i].Base().inputs {
			visit(j)
		}
		done[i] = true
		post = append(post, i)
	}
	visit(out)
	depth := map[int]int{}
	for k := len(post) - 1; k >= 0; k-- {
		i := post[k]
		d := depth[i]
		for _, j := range layers[i].Base().inputs {
			depth[j] = max(depth[j], d+1)
		}
	}
	order := append([]int(nil), post...)
	sort.SliceStable(order, func(a, b int) bool {
		da, db := depth[order[a]], depth[order[b]]
		if da != db {
			return da > db
		}
		return disc[order[a]] < disc[order[b]]
	})
	return order
}

// Model is a functional model over a DAG of layers.
type Model struct {
	// Layers in Keras' model.layers order; Layers[i].Base().Index() == i.
	Layers []Layer
	// Inputs are the indices of the input layers, Output the output layer's.
	Inputs []int
	Output int
	// BF16 runs frozen convolution chains in inference in bfloat16 (about
	// twice as fast on CPUs with AVX512_BF16, about 1e-2 relative error);
	// it has no effect elsewhere.
	BF16 bool
	// TrainBF16 runs the convolutions that train (forward, backward to the
	// input and to the weights) in bfloat16 where the CPU has AVX512_BF16:
	// products of bfloat16-rounded values accumulated in float32, with
	// float32 weights, gradients and optimizer state (mixed precision, as
	// torch.autocast on a CPU). About 1.6 times faster; other layers stay
	// float32.
	TrainBF16 bool
	// Int8 runs frozen convolution chains in inference in 8-bit integers
	// where calibration (CalibrateInt8 or SetInt8Ranges) has seen their
	// input, and the CPU has VNNI; it takes precedence over BF16.
	Int8 bool
	// Int8MaxErr is the largest relative error against float32, measured
	// in calibration, of a layer run in int8; layers with more stay float32
	// (0: DefaultInt8MaxErr).
	Int8MaxErr float32

	byName    map[string]int
	consumers [][]int

	mu      sync.Mutex
	last    *run
	fusions fusionCache
	buffers *arena

	int8        map[string]Int8Range // calibrated input ranges by conv layer name
	calibrating calibration
	allFloat32  bool // keep every activation in float32 (tests compare with it)
}

// Index returns the index of the named layer, or -1.
func (m *Model) Index(name string) int {
	if i, ok := m.byName[name]; ok {
		return i
	}
	return -1
}

// Layer returns the named layer.
func (m *Model) Layer(name string) (Layer, bool) {
	i, ok := m.byName[name]
	if !ok {
		return nil, false
	}
	return m.Layers[i], true
}

// SetTrainable sets the trainable flag of layers [from, to).
func (m *Model) SetTrainable(from, to int, trainable bool) error {
	if from < 0 || to > len(m.Layers) || from > to {
		return fmt.Errorf("layer range [%d, %d) outside [0, %d)", from, to, len(m.Layers))
	}
	for _, l := range m.Layers[from:to] {
		l.Base().Trainable = trainable
	}
	return nil
}

// InputShape is the shape of the first input without the batch dimension.
func (m *Model) InputShape() []int { return m.Layers[m.Inputs[0]].Base().outShape }

// OutputShape is the output's shape without the batch dimension.
func (m *Model) OutputShape() []int { return m.Layers[m.Output].Base().outShape }

// InitWeights draws fresh weights for every layer that has an initializer
// (Keras' glorot_uniform kernels, zero biases), from the given seed.
func (m *Model) InitWeights(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x7a5))
	for _, l := range m.Layers {
		if in, ok := l.(interface{ initWeights(*rand.Rand) }); ok {
			in.initWeights(r)
		}
		if d, ok := l.(*Dropout); ok {
			d.Seed(seed + uint64(d.index))
		}
	}
}

// ParamCounts returns the total, trainable and non-trainable parameter
// counts, as Keras' summary() reports them.
func (m *Model) ParamCounts() (total, trainable, nonTrainable int) {
	for _, l := range m.Layers {
		t, n := layerParams(l)
		trainable += t
		nonTrainable += n
	}
	return trainable + nonTrainable, trainable, nonTrainable
}

func layerParams(l Layer) (trainable, nonTrainable int) {
	for _, p := range l.Params() {
		if p.Trainable() && l.Base().Trainable {
			trainable += p.Value.Len()
		} else {
			nonTrainable += p.Value.Len()
		}
	}
	return
}

// TrainableParams are the weights an optimizer updates: trainable weights
// of trainable layers.
func (m *Model) TrainableParams() []*Param {
	var ps []*Param
	for _, l := range m.Layers {
		if !l.Base().Trainable {
			continue
		}
		for _, p := range l.Params() {
			if p.Trainable() {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// WeightsVersion grows whenever any weight of the model is written (see
// Param.Touch), so a copy of the weights can tell that it is stale.
func (m *Model) WeightsVersion() int {
	v := 0
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			v += p.version
		}
	}
	return v
}

// ZeroGrad clears the gradients of every weight.
func (m *Model) ZeroGrad() {
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			if p.Grad != nil {
				p.Grad.Zero()
			}
		}
	}
}

// Summary writes one line per layer (index, name, class, output shape as
// Keras prints it, parameters, trainable, the layers it is connected to)
// and Keras-style totals.
func (m *Model) Summary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "index\tname\tclass\toutput shape\tparams\ttrainable\tconnected to")
	for i, l := range m.Layers {
		b := l.Base()
		t, n := layerParams(l)
		shape := shapeString(b.outShape)
		if _, ok := l.(*InputLayer); ok {
			shape = "[" + shape + "]"
		}
		from := []string{}
		for _, j := range b.inputs {
			from = append(from, m.Layers[j].Base().name)
		}
		conn := strings.Join(from, ", ")
		if conn == "" {
			conn = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%v\t%s\n", i, b.name, b.class, shape, t+n, b.Trainable, conn)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	total, tr, nt := m.ParamCounts()
	_, err := fmt.Fprintf(w, "Layers: %d\nTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\n",
		len(m.Layers), commas(total), commas(tr), commas(nt))
	return err
}

func shapeString(s []int) string {
	parts := []string{"None"}
	for _, d := range s {
		parts = append(parts, fmt.Sprint(d))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// run is the state of one forward pass kept for the backward pass.
type run struct {
	needed  []bool
	fed     []bool
	done    []bool // computed by a fused kernel
	reqGrad []bool
	output  int
}

// Forward runs the model on a batch in inference mode (training false) or
// training mode, where trainable layers use batch statistics and dropout and
// the pass is kept for Backward.
func (m *Model) Forward(x *tensor.Tensor, training bool) (*tensor.Tensor, error) {
	outs, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, []int{m.Output}, training)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// Run feeds tensors as the outputs of the given layers (an input layer, or
// any inner layer, whose predecessors are then skipped) and returns the
// outputs of the requested layers. With training set, the pass is kept for
// a Backward from the last requested layer.
//
// An inference pass runs on the engine's thread (dnnl.Exclusive), so that
// its kernels are not each handed to that thread and back: a one-image
// request's latency falls by a quarter. Training passes do not: with the
// Go side of a training step on that thread, stage2-cached steps were 4%
// slower (four alternating runs each).
func (m *Model) Run(feeds map[int]*tensor.Tensor, outputs []int, training bool) ([]*tensor.Tensor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if training {
		return m.runLocked(feeds, outputs, training)
	}
	var outs []*tensor.Tensor
	err := dnnl.Exclusive(func() error {
		var err error
		outs, err = m.runLocked(feeds, outputs, training)
		return err
	})
	return outs, err
}

// runLocked is Run with m.mu held.
func (m *Model) runLocked(feeds map[int]*tensor.Tensor, outputs []int, training bool) ([]*tensor.Tensor, error) {
	n := len(m.Layers)
	r := &run{needed: make([]bool, n), fed: make([]bool, n), reqGrad: make([]bool, n), done: make([]bool, n)}
	for i := range feeds {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("run: feed for layer index %d outside [0, %d)", i, n)
		}
		r.fed[i] = true
	}
	var stack []int
	for _, o := range outputs {
		if o < 0 || o >= n {
			return nil, fmt.Errorf("run: output layer index %d outside [0, %d)", o, n)
		}
		stack = append(stack, o)
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r.needed[i] {
			continue
		}
		r.needed[i] = true
		if r.fed[i] {
			continue
		}
		if _, ok := m.Layers[i].(*InputLayer); ok {
			return nil, fmt.Errorf("run: input %q is needed but not fed", m.Layers[i].Base().name)
		}
		stack = append(stack, m.Layers[i].Base().inputs...)
	}
	refs := make([]int, n)
	for i := 0; i < n; i++ {
		if !r.needed[i] || r.fed[i] {
			continue
		}
		b := m.Layers[i].Base()
		for _, j := range b.inputs {
			refs[j]++
			if training && r.reqGrad[j] {
				r.reqGrad[i] = true
			}
		}
		if training && b.Trainable && hasTrainable(m.Layers[i]) {
			r.reqGrad[i] = true
		}
	}
	want := make([]bool, n)
	for _, o := range outputs {
		want[o] = true
	}
	if m.buffers == nil {
		m.buffers = newArena()
	}
	a := m.buffers
	a.newPass() // the last pass's backward is over: a new pass replaces it
	spec := m.planLow(r, training, want)
	batch := 0
	vals := make([]*tensor.Tensor, n)
	for i, t := range feeds {
		if len(t.Shape) > 0 {
			batch = t.Shape[0]
		}
		if m.Layers[i].Base().outShape != nil && !r.needed[i] {
			continue
		}
		vals[i] = t
		if _, ok := m.Layers[i].(*InputLayer); ok {
			if _, err := m.Layers[i].Forward([]*tensor.Tensor{t}, Mode{}); err != nil {
				return nil, err
			}
		} else if err := checkBatch(m.Layers[i].Base(), t, m.Layers[i].Base().outShape); err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		if !r.needed[i] || r.fed[i] || r.done[i] {
			continue
		}
		l := m.Layers[i]
		b := l.Base()
		if spec != nil && spec[i].dt != dnnl.F32 && isPoolOrConcat(l) {
			y, err := m.forwardLow(i, vals, spec, batch)
			if err != nil {
				m.dropAll(vals, nil)
				return nil, err
			}
			vals[i] = y
			a.hold(y)
			m.release(b.inputs, vals, refs, want)
			continue
		}
		if skip, err := m.tryFused(i, r, training, vals, refs, want, spec, batch); err != nil {
			m.dropAll(vals, nil)
			return nil, err
		} else if skip {
			continue
		}
		in := make([]*tensor.Tensor, len(b.inputs))
		for k, j := range b.inputs {
			in[k] = vals[j]
		}
		mode := Mode{Training: training && b.Trainable, Keep: training && r.reqGrad[i], arena: a}
		mode.bf16 = mode.Keep && m.TrainsInBF16()
		y, err := l.Forward(in, mode)
		if err != nil {
			m.dropAll(vals, nil)
			return nil, err
		}
		if mode.Keep {
			for _, x := range in {
				a.lend(x)
			}
			a.lend(y)
		}
		vals[i] = y
		a.hold(y)
		m.release(b.inputs, vals, refs, want)
	}
	res := make([]*tensor.Tensor, len(outputs))
	for k, o := range outputs {
		res[k] = vals[o]
		a.keep(vals[o])
	}
	m.dropAll(vals, want)
	if training {
		r.output = outputs[len(outputs)-1]
		m.last = r
	} else {
		m.last = nil
	}
	return res, nil
}

// release drops the values of inputs that no pending layer reads any more,
// returning their buffers to the arena.
func (m *Model) release(inputs []int, vals []*tensor.Tensor, refs []int, want []bool) {
	for _, j := range inputs {
		refs[j]--
		if refs[j] == 0 && !want[j] && vals[j] != nil {
			m.buffers.drop(vals[j])
			vals[j] = nil
		}
	}
}

// dropAll returns the buffers of the values left at the end of a pass,
// except the wanted ones, to the arena.
func (m *Model) dropAll(vals []*tensor.Tensor, want []bool) {
	for i, v := range vals {
		if v != nil && (want == nil || !want[i]) {
			m.buffers.drop(v)
		}
	}
}

func hasTrainable(l Layer) bool {
	for _, p := range l.Params() {
		if p.Trainable() {
			return true
		}
	}
	return false
}

// Backward propagates dy, the gradient of the loss with respect to the
// output of the last training-mode Run, and accumulates weight gradients.
// With logits set, dy is the gradient with respect to the output layer's
// pre-softmax values (from a fused softmax cross-entropy loss). Nothing is
// computed below the lowest trainable layer.
func (m *Model) Backward(dy *tensor.Tensor, logits bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.last
	if r == nil {
		return errors.New("backward: no training-mode forward pass to differentiate")
	}
	// Gradients come from the arena and return to it once consumed, so
	// that training steps reuse their memory instead of faulting in new
	// memory each step. A gradient stored in grads is held; one that a
	// layer returned for several inputs (or that aliases its own output
	// gradient) is held once per place it is stored.
	a := m.buffers
	grads := make([]*tensor.Tensor, len(m.Layers))
	defer func() {
		for _, g := range grads {
			a.drop(g)
		}
	}()
	grads[r.output] = dy
	for i := r.output; i >= 0; i-- {
		if grads[i] == nil || !r.reqGrad[i] || r.fed[i] {
			continue
		}
		l := m.Layers[i]
		b := l.Base()
		need := make([]bool, len(b.inputs))
		for k, j := range b.inputs {
			need[k] = r.reqGrad[j] && !r.fed[j]
		}
		var dx []*tensor.Tensor
		var err error
		b.grads = a
		switch {
		case i == r.output && logits:
			dx, err = backwardLogits(l, grads[i], need)
		default:
			dx, err = l.Backward(grads[i], need)
		}
		b.grads = nil
		if err != nil {
			return err
		}
		for k, j := range b.inputs {
			if !need[k] || dx[k] == nil {
				continue
			}
			if grads[j] == nil {
				grads[j] = dx[k]
				a.hold(dx[k])
			} else {
				addInto(grads[j].Data, dx[k].Data)
				a.dropUnheld(dx[k])
			}
		}
		a.drop(grads[i])
		grads[i] = nil
	}
	m.last = nil
	return nil
}

func backwardLogits(l Layer, dz *tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	switch t := l.(type) {
	case *Dense:
		if t.Activation == "softmax" {
			return t.BackwardLogits(dz, need)
		}
	case *Activation:
		if t.Kind == "softmax" {
			return []*tensor.Tensor{dz}, nil
		}
	}
	return nil, fmt.Errorf("layer %q: a logits gradient needs a softmax output layer", l.Base().name)
}

// TrainsInBF16 reports whether training convolutions run in bfloat16:
// TrainBF16 is set and the CPU supports it.
func (m *Model) TrainsInBF16() bool { return m.TrainBF16 && dnnl.HasBF16() }
