package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// Every buffer the arena hands out in these tests starts as NaN, so that a
// layer that leaves an output or gradient value unwritten fails its test.
func init() { poison = true }

// smallNet builds Conv-BN-ReLU, two pooled branches, Concat, GAP and Dense.
func smallNet(t *testing.T, outAct string) *Model {
	t.Helper()
	g := NewGraph()
	x := g.Input(NewInput("input", 6, 6, 3))
	x = g.Apply(NewConv2D("conv_a", 4, 3, 3, 1, 1, "same", false), x)
	x = g.Apply(NewBatchNormalization("bn_a"), x)
	x = g.Apply(NewActivation("relu_a", "relu"), x)
	a := g.Apply(NewMaxPooling2D("pool_max", 2, 2, 2, 2, "valid"), x)
	b := g.Apply(NewConv2D("conv_b", 3, 1, 3, 1, 1, "same", true), x)
	b = g.Apply(NewAveragePooling2D("pool_avg", 3, 3, 2, 2, "same"), b)
	c := g.Apply(NewConcatenate("concat"), a, b)
	c = g.Apply(NewGlobalAveragePooling2D("gap"), c)
	c = g.Apply(NewDense("fc", 5, "relu"), c)
	c = g.Apply(NewDense("out", 3, outAct), c)
	m, err := g.Build(c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(1)
	// Non-trivial BN weights.
	bn, _ := m.Layer("bn_a")
	for _, p := range bn.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] += 0.1 * float32(i+1)
		}
	}
	return m
}

func randTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

// gradCheck compares analytic and central-difference gradients of
// loss = sum(out * w) for a sample of every trainable weight.
func gradCheck(t *testing.T, m *Model, x *tensor.Tensor, w *tensor.Tensor) {
	t.Helper()
	gradCheckEvery(t, m, x, w, 1)
}

// gradCheckEvery checks every stride-th entry of each weight (the first included).
func gradCheckEvery(t *testing.T, m *Model, x *tensor.Tensor, w *tensor.Tensor, stride int) {
	t.Helper()
	loss := func() float64 {
		y, err := m.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range y.Data {
			s += float64(v) * float64(w.Data[i])
		}
		return s
	}
	m.ZeroGrad()
	loss()
	if err := m.Backward(w, false); err != nil {
		t.Fatal(err)
	}
	checked, bad := 0, 0
	for _, p := range m.TrainableParams() {
		for i := 0; i < p.Value.Len(); i += stride {
			ana := float64(p.Grad.Data[i])
			checked++
			// A step across a ReLU or max-pool kink spoils one estimate:
			// accept the entry if either step size agrees.
			ok := false
			var num float64
			for _, eps := range []float32{1e-3, 3e-3} {
				old := p.Value.Data[i]
				p.Value.Data[i] = old + eps
				lp := loss()
				p.Value.Data[i] = old - eps
				lm := loss()
				p.Value.Data[i] = old
				num = (lp - lm) / float64(2*eps)
				ok = ok || math.Abs(num-ana) <= 2e-2*math.Max(math.Abs(num), math.Abs(ana))+2e-3
			}
			if !ok {
				bad++
				t.Logf("%s[%d]: analytic %g numeric %g", p.Name, i, ana, num)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d gradient entries disagree", bad, checked)
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randTensor(r, 4, 6, 6, 3)
	w := randTensor(r, 4, 3)
	t.Run("all trainable", func(t *testing.T) {
		gradCheck(t, smallNet(t, "linear"), x, w)
	})
	t.Run("frozen conv and bn", func(t *testing.T) {
		m := smallNet(t, "linear")
		m.SetTrainable(0, 3, false)
		gradCheck(t, m, x, w)
	})
}

func TestSoftmaxCrossEntropyLogitsGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	m := smallNet(t, "softmax")
	x := randTensor(r, 4, 6, 6, 3)
	labels := []int{0, 2, 1, 2}
	lossFn := CategoricalCrossentropy{LabelSmoothing: 0.1, ClassWeights: []float32{1, 2, 0.5}}
	loss := func() float64 {
		y, err := m.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := lossFn.Compute(y, labels)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	m.ZeroGrad()
	y, _ := m.Forward(x, true)
	_, dz, err := lossFn.Compute(y, labels)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(dz, true); err != nil {
		t.Fatal(err)
	}
	out, _ := m.Layer("out")
	p := out.Params()[0]
	for i := 0; i < p.Value.Len(); i += 2 {
		old := p.Value.Data[i]
		p.Value.Data[i] = old + 5e-3
		lp := loss()
		p.Value.Data[i] = old - 5e-3
		lm := loss()
		p.Value.Data[i] = old
		num := (lp - lm) / 1e-2
		if ana := float64(p.Grad.Data[i]); math.Abs(num-ana) > 2e-2*math.Abs(num)+1e-3 {
			t.Errorf("kernel[%d]: analytic %g numeric %g", i, ana, num)
		}
	}
}

func TestBackwardStopsAtFrozenLayers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m := smallNet(t, "linear")
	m.SetTrainable(0, m.Index("gap")+1, false)
	x := randTensor(r, 2, 6, 6, 3)
	m.ZeroGrad()
	if _, err := m.Forward(x, true); err != nil {
		t.Fatal(err)
	}
	// Frozen layers keep nothing for a backward pass.
	conv, _ := m.Layer("conv_a")
	if conv.(*Conv2D).x != nil {
		t.Error("frozen conv kept its input")
	}
	if err := m.Backward(randTensor(r, 2, 3), false); err != nil {
		t.Fatal(err)
	}
	for _, p := range conv.Params() {
		for _, v := range p.Grad.Data {
			if v != 0 {
				t.Fatal("frozen conv got a gradient")
			}
		}
	}
	fc, _ := m.Layer("fc")
	nonzero := false
	for _, v := range fc.Params()[0].Grad.Data {
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Error("trainable dense got no gradient")
	}
}

func TestFrozenBatchNormKeepsMovingStats(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, frozen := range []bool{true, false} {
		m := smallNet(t, "softmax")
		bn, _ := m.Layer("bn_a")
		bn.Base().Trainable = !frozen
		before := [][]float32{}
		for _, p := range bn.Params() {
			before = append(before, append([]float32(nil), p.Value.Data...))
		}
		opt := NewSGD(0.01, 0.9, false)
		for step := 0; step < 3; step++ {
			m.ZeroGrad()
			y, err := m.Forward(randTensor(r, 4, 6, 6, 3), true)
			if err != nil {
				t.Fatal(err)
			}
			_, dz, _ := CategoricalCrossentropy{}.Compute(y, []int{0, 1, 2, 0})
			if err := m.Backward(dz, true); err != nil {
				t.Fatal(err)
			}
			opt.Step(m.TrainableParams())
		}
		changed := 0
		for k, p := range bn.Params() {
			for i, v := range p.Value.Data {
				if v != before[k][i] {
					changed++
				}
			}
		}
		if frozen && changed != 0 {
			t.Errorf("frozen BatchNorm changed %d values", changed)
		}
		if !frozen && changed == 0 {
			t.Error("trainable BatchNorm did not update")
		}
	}
}

func TestOptimizersLearnSyntheticTask(t *testing.T) {
	for _, name := range []string{"rmsprop", "sgd", "adam"} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 12))
			g := NewGraph()
			x := g.Input(NewInput("in", 8))
			h := g.Apply(NewDense("h", 16, "relu"), x)
			o := g.Apply(NewDense("o", 3, "softmax"), h)
			m, err := g.Build(o)
			if err != nil {
				t.Fatal(err)
			}
			m.InitWeights(2)
			// Three Gaussian blobs.
			centers := randTensor(r, 3, 8)
			xs := tensor.New(96, 8)
			labels := make([]int, 96)
			for i := range labels {
				labels[i] = i % 3
				for k := 0; k < 8; k++ {
					xs.Data[i*8+k] = 2*centers.Data[labels[i]*8+k] + 0.3*float32(r.NormFloat64())
				}
			}
			lr := map[string]float64{"rmsprop": 1e-2, "sgd": 5e-2, "adam": 1e-2}[name]
			opt, _ := NewOptimizer(name, lr)
			var first, last float64
			for step := 0; step < 200; step++ {
				m.ZeroGrad()
				y, err := m.Forward(xs, true)
				if err != nil {
					t.Fatal(err)
				}
				l, dz, _ := CategoricalCrossentropy{}.Compute(y, labels)
				if step == 0 {
					first = l
				}
				last = l
				if err := m.Backward(dz, true); err != nil {
					t.Fatal(err)
				}
				opt.Step(m.TrainableParams())
			}
			if last > first/10 {
				t.Errorf("loss went from %g to %g, want a 10x drop", first, last)
			}
		})
	}
}

func TestOptimizerStepsMatchKeras(t *testing.T) {
	// Hand-computed Keras updates for w = [1, -2] with constant gradient g = [0.5, -1].
	mk := func() *Param {
		p := newParam("w", true, 2)
		copy(p.Value.Data, []float32{1, -2})
		copy(p.Grad.Data, []float32{0.5, -1})
		return p
	}
	cases := []struct {
		name string
		opt  Optimizer
		want [][2]float64
	}{
		// ms1 = 0.1 g^2; w1 = w0 - lr g / sqrt(ms1 + 1e-7); ms2 = 0.19 g^2 ...
		{"rmsprop", NewRMSprop(0.1), [][2]float64{
			{1 - 0.1*0.5/math.Sqrt(0.1*0.25+1e-7), -2 + 0.1/math.Sqrt(0.1+1e-7)},
			{1 - 0.1*0.5/math.Sqrt(0.1*0.25+1e-7) - 0.1*0.5/math.Sqrt(0.19*0.25+1e-7), -2 + 0.1/math.Sqrt(0.1+1e-7) + 0.1/math.Sqrt(0.19+1e-7)},
		}},
		// v1 = -lr g; v2 = m v1 - lr g.
		{"sgd", NewSGD(0.1, 0.9, false), [][2]float64{{0.95, -1.9}, {0.95 - 0.095, -1.9 + 0.19}}},
		{"sgd-nesterov", NewSGD(0.1, 0.9, true), [][2]float64{{1 - 0.045 - 0.05, -2 + 0.09 + 0.1}, {1 - 0.045 - 0.05 - 0.0855 - 0.05, -2 + 0.09 + 0.1 + 0.171 + 0.1}}},
		// Adam's first step moves each weight by lr*sign(g) (up to epsilon).
		{"adam", NewAdam(0.1), [][2]float64{{0.9, -1.9}, {0.8, -1.8}}},
	}
	for _, tc := range cases {
		p := mk()
		for s, want := range tc.want {
			tc.opt.Step([]*Param{p})
			for k := 0; k < 2; k++ {
				if math.Abs(float64(p.Value.Data[k])-want[k]) > 1e-5 {
					t.Errorf("%s step %d w[%d] = %g, want %g", tc.name, s+1, k, p.Value.Data[k], want[k])
				}
			}
		}
	}
}

func TestShapeErrorsNameLayerAndShapes(t *testing.T) {
	g := NewGraph()
	a := g.Input(NewInput("a", 4, 4, 3))
	b := g.Input(NewInput("b", 5, 5, 3))
	g.Apply(NewConcatenate("join"), a, b)
	_, err := g.Build(a)
	if err == nil || !strings.Contains(err.Error(), "join") || !strings.Contains(err.Error(), "[4 4 3]") {
		t.Errorf("got %v, want an error naming the layer and the shapes", err)
	}
	g = NewGraph()
	a = g.Input(NewInput("a", 2, 2, 3))
	g.Apply(NewConv2D("too_big", 4, 3, 3, 1, 1, "valid", false), a)
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "too_big") {
		t.Errorf("got %v, want an error naming the layer", err)
	}
	g = NewGraph()
	a = g.Input(NewInput("a", 4, 4, 3))
	o := g.Apply(NewGlobalAveragePooling2D("gap"), a)
	m, err := g.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Forward(tensor.New(1, 5, 4, 3), false)
	if err == nil || !strings.Contains(err.Error(), "[1 5 4 3]") {
		t.Errorf("got %v, want an error with the bad batch shape", err)
	}
}

// TestTrainBF16GradientsCloseToFloat32: with TrainBF16 the training pass's
// convolutions run in bfloat16, and every weight's gradient stays within
// bfloat16's rounding of the float32 one (but differs from it: the bfloat16
// kernels did run). Inference is unaffected.
func TestTrainBF16GradientsCloseToFloat32(t *testing.T) {
	if !dnnl.HasBF16() {
		t.Skip("no native bfloat16 on this CPU")
	}
	r := rand.New(rand.NewPCG(41, 42))
	x, w := randTensor(r, 4, 6, 6, 3), randTensor(r, 4, 3)
	grads := func(bf16 bool) (map[string][]float32, []float32) {
		m := smallNet(t, "linear")
		m.TrainBF16 = bf16
		y, err := m.Forward(x, false) // before training moves BatchNorm's statistics
		if err != nil {
			t.Fatal(err)
		}
		m.ZeroGrad()
		if _, err := m.Forward(x, true); err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(w, false); err != nil {
			t.Fatal(err)
		}
		g := map[string][]float32{}
		for _, p := range m.TrainableParams() {
			g[p.Name] = append([]float32(nil), p.Grad.Data...)
		}
		return g, y.Data
	}
	want, wantY := grads(false)
	got, gotY := grads(true)
	differ := false
	for name, g := range want {
		e := tensor.RelErr(got[name], g)
		if e > 3e-2 {
			t.Errorf("%s: gradient rel err %g > 3e-2", name, e)
		}
		differ = differ || e > 0
	}
	if !differ {
		t.Error("bfloat16 gradients equal float32 ones bit for bit: the bfloat16 kernels did not run")
	}
	if e := tensor.RelErr(gotY, wantY); e != 0 {
		t.Errorf("inference changed with TrainBF16: rel err %g", e)
	}
}
