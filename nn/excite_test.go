package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

// seNet uses every layer EfficientNet adds: Rescaling, Normalization, swish,
// squeeze-and-excitation (GlobalAveragePooling2D, Reshape, Conv2D with swish
// and sigmoid, Multiply), GlobalAveragePooling2D with keepdims.
func seNet(t *testing.T) *Model {
	t.Helper()
	g := NewGraph()
	x := g.Input(NewInput("input", 6, 6, 3))
	x = g.Apply(NewConv2D("stem", 8, 3, 3, 1, 1, "same", false), x)
	x = g.Apply(NewRescaling("rescale", []float32{0.5, 2, -1, 1, 1, 0.25, 3, 1}, []float32{0.1}), x)
	x = g.Apply(NewNormalization("norm"), x)
	x = g.Apply(NewBatchNormalization("bn"), x)
	x = g.Apply(NewActivation("act", "swish"), x)
	se := g.Apply(NewGlobalAveragePooling2D("squeeze"), x)
	se = g.Apply(NewReshape("reshape", 1, 1, 8), se)
	reduce := NewConv2D("reduce", 2, 1, 1, 1, 1, "same", true)
	reduce.Activation = tensor.Swish
	se = g.Apply(reduce, se)
	expand := NewConv2D("expand", 8, 1, 1, 1, 1, "same", true)
	expand.Activation = tensor.Sigmoid
	se = g.Apply(expand, se)
	x = g.Apply(NewMultiply("excite"), x, se)
	k := NewGlobalAveragePooling2D("pool_keep")
	k.Keepdims = true
	x = g.Apply(k, x)
	x = g.Apply(NewFlatten("flat"), x)
	x = g.Apply(NewDense("out", 3, "linear"), x)
	m, err := g.Build(x)
	if err != nil {
		t.Fatal(err)
	}
	m.InitWeights(4)
	n, _ := m.Layer("norm")
	ps := n.Params()
	for k := range ps[0].Value.Data {
		ps[0].Value.Data[k] = 0.1 * float32(k)
		ps[1].Value.Data[k] = 0.5 + 0.2*float32(k)
	}
	return m
}

func TestSqueezeExcitationGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	gradCheckEvery(t, seNet(t), randTensor(r, 2, 6, 6, 3), randTensor(r, 2, 3), 5)
}

// TestNewLayersMatchReference runs each new layer once against package
// tensor's kernels.
func TestNewLayersMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	m := seNet(t)
	x := randTensor(r, 2, 6, 6, 3)
	idx := func(name string) int { return m.Index(name) }
	names := []string{"stem", "rescale", "norm", "bn", "act", "squeeze", "reshape", "reduce", "expand", "excite", "pool_keep"}
	var want []int
	for _, n := range names {
		want = append(want, idx(n))
	}
	outs, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, want, false)
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]*tensor.Tensor{}
	for i, n := range names {
		v[n] = outs[i]
	}
	check := func(name string, ref []float32, shape ...int) {
		t.Helper()
		got := v[name]
		if !tensor.SameShape(got.Shape, shape) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape, shape)
		}
		if e := tensor.RelErr(got.Data, ref); e > 1e-5 {
			t.Errorf("%s: rel err %g against the reference", name, e)
		}
	}
	rl, _ := m.Layer("rescale")
	ref := make([]float32, v["stem"].Len())
	resc := rl.(*Rescaling)
	tensor.ChannelAffine(8, v["stem"].Data, resc.Scale, []float32{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, ref)
	check("rescale", ref, 2, 6, 6, 8)
	nl, _ := m.Layer("norm")
	mean, variance := nl.Params()[0].Value.Data, nl.Params()[1].Value.Data
	for i, xv := range v["rescale"].Data {
		k := i % 8
		ref[i] = (xv - mean[k]) / float32(sqrt64(variance[k]))
	}
	check("norm", ref, 2, 6, 6, 8)
	tensor.ActivationForward(tensor.Swish, v["bn"].Data, ref)
	check("act", ref, 2, 6, 6, 8)
	gap := make([]float32, 16)
	tensor.GlobalAvgPool(2, 36, 8, v["act"].Data, gap)
	check("squeeze", gap, 2, 8)
	check("reshape", gap, 2, 1, 1, 8)
	tensor.MulBroadcast([]int{2, 6, 6, 8}, []int{2, 6, 6, 8}, []int{2, 1, 1, 8}, v["act"].Data, v["expand"].Data, ref)
	check("excite", ref, 2, 6, 6, 8)
	tensor.GlobalAvgPool(2, 36, 8, v["excite"].Data, gap)
	check("pool_keep", gap, 2, 1, 1, 8)
	for _, name := range []string{"reduce", "expand"} {
		l, _ := m.Layer(name)
		c := l.(*Conv2D)
		in := v["reshape"]
		if name == "expand" {
			in = v["reduce"]
		}
		g, _ := tensor.NewConvGeom(2, 1, 1, in.Shape[3], c.Filters, 1, 1, 1, 1, "same", 1)
		y := make([]float32, g.OutLen())
		tensor.ConvForward(g, in.Data, c.Params()[0].Value.Data, c.Params()[1].Value.Data, y)
		tensor.ActivationForward(c.Activation, y, y)
		check(name, y, 2, 1, 1, c.Filters)
	}
}

func TestDropoutPerExample(t *testing.T) {
	d := NewDropout("drop", 0.5)
	d.PerExample = true
	g := NewGraph()
	x := g.Input(NewInput("in", 2, 2, 3))
	m, err := g.Build(g.Apply(d, x))
	if err != nil {
		t.Fatal(err)
	}
	in := tensor.New(64, 2, 2, 3)
	for i := range in.Data {
		in.Data[i] = 1
	}
	y, err := m.Forward(in, true)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for n := 0; n < 64; n++ {
		ex := y.Data[n*12 : (n+1)*12]
		for _, v := range ex {
			if v != ex[0] || (v != 0 && v != 2) {
				t.Fatalf("example %d is not dropped or kept whole: %v", n, ex)
			}
		}
		if ex[0] == 2 {
			kept++
		}
	}
	if kept < 16 || kept > 48 {
		t.Errorf("%d of 64 examples kept at rate 0.5", kept)
	}
	if y, _ := m.Forward(in, false); y.Data[0] != 1 {
		t.Error("inference dropped")
	}
}

func sqrt64(v float32) float64 { return math.Sqrt(float64(v)) }
