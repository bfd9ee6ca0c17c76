package models

import (
	"fmt"
	"math"

	"trashsort/nn"
	"trashsort/tensor"
)

func init() {
	Register(Spec{
		Name: "efficientnet_b0", DefaultSize: 224, MinSize: 32, Preprocess: PreprocessNone,
		FeatureLayer: "top_activation", FineTuneFrom: "block6a_expand_conv", LastConvLayer: "top_activation",
		// MD5: WEIGHTS_HASHES in keras/src/applications/efficientnet.py.
		// Size: the length the URL serves, as Keras' downloader reports it.
		// No SHA-256 is published.
		NoTop: Weights{
			File: "efficientnetb0_notop.h5",
			URL:  "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
			MD5:  "50bc09e76180e00e4465e1a485ddc09d",
			Size: 16705208,
		},
		MACs:    0.3845e9,
		Builder: efficientNetGraph(1.0, 1.0, 0.2),
	})
}

// efficientNetBlock is one stage of keras.applications.efficientnet's
// DEFAULT_BLOCKS_ARGS (squeeze-and-excitation ratio 0.25, identity skip).
type efficientNetBlock struct {
	kernel, repeats, in, out, expand, stride int
}

var efficientNetBlocks = []efficientNetBlock{
	{3, 1, 32, 16, 1, 1},
	{3, 2, 16, 24, 6, 2},
	{5, 2, 24, 40, 6, 2},
	{3, 3, 40, 80, 6, 2},
	{5, 3, 80, 112, 6, 1},
	{5, 4, 112, 192, 6, 2},
	{3, 1, 192, 320, 6, 1},
}

// imagenetStdRGB are the ImageNet standard deviations whose square roots
// current Keras divides by after the Normalization layer (the weights were
// adapted to variances, not standard deviations: tensorflow issue 49930).
var imagenetStdRGB = []float64{0.229, 0.224, 0.225}

type efficientNetBuilder struct {
	g *nn.Graph
}

func (b *efficientNetBuilder) conv(x nn.Node, name string, filters, k, stride int, padding string, bias bool, act int) nn.Node {
	c := nn.NewConv2D(name, filters, k, k, stride, stride, padding, bias)
	c.Activation = act
	return b.g.Apply(c, x)
}

func (b *efficientNetBuilder) bnAct(x nn.Node, bn, act string) nn.Node {
	x = b.g.Apply(nn.NewBatchNormalization(bn), x)
	if act == "" {
		return x
	}
	return b.g.Apply(nn.NewActivation(act, "swish"), x)
}

// block is Keras' efficientnet.block: expansion, depthwise convolution
// (TensorFlow "same" padding as ZeroPadding2D + "valid" when strided),
// squeeze-and-excitation, projection and, when the shapes allow, a
// drop-connect residual.
func (b *efficientNetBuilder) block(x nn.Node, size int, a efficientNetBlock, dropRate float64, name string) (nn.Node, int) {
	in := x
	filters := a.in * a.expand
	if a.expand != 1 {
		x = b.conv(x, name+"expand_conv", filters, 1, 1, tensor.Same, false, tensor.Linear)
		x = b.bnAct(x, name+"expand_bn", name+"expand_activation")
	}
	padding := tensor.Same
	if a.stride == 2 {
		t, bo, l, r := correctPad(size, size, a.kernel)
		x = b.g.Apply(nn.NewZeroPadding2D(name+"dwconv_pad", t, bo, l, r), x)
		padding = tensor.Valid
		size = (size + 1) / 2
	}
	x = b.g.Apply(nn.NewDepthwiseConv2D(name+"dwconv", a.kernel, a.kernel, a.stride, a.stride, padding, false), x)
	x = b.bnAct(x, name+"bn", name+"activation")

	se := b.g.Apply(nn.NewGlobalAveragePooling2D(name+"se_squeeze"), x)
	se = b.g.Apply(nn.NewReshape(name+"se_reshape", 1, 1, filters), se)
	se = b.conv(se, name+"se_reduce", max(1, a.in/4), 1, 1, tensor.Same, true, tensor.Swish)
	se = b.conv(se, name+"se_expand", filters, 1, 1, tensor.Same, true, tensor.Sigmoid)
	x = b.g.Apply(nn.NewMultiply(name+"se_excite"), x, se)

	x = b.conv(x, name+"project_conv", a.out, 1, 1, tensor.Same, false, tensor.Linear)
	x = b.bnAct(x, name+"project_bn", "")
	if a.stride == 1 && a.in == a.out {
		if dropRate > 0 {
			d := nn.NewDropout(name+"drop", float32(dropRate))
			d.PerExample = true
			x = b.g.Apply(d, x)
		}
		x = b.g.Apply(nn.NewAdd(name+"add"), x, in)
	}
	return x, size
}

// efficientNetGraph builds keras.applications' EfficientNet with the given
// width and depth coefficients and drop-connect rate, as current Keras does
// with weights="imagenet" (Rescaling, Normalization, then Rescaling by
// 1/sqrt(std) as rescaling_1).
func efficientNetGraph(width, depth, dropConnect float64) Builder {
	roundFilters := func(f int) int { return makeDivisible(float64(f)*width, 8) }
	roundRepeats := func(r int) int { return int(math.Ceil(depth * float64(r))) }
	return func(o Options) (*nn.Graph, nn.Node, error) {
		b := &efficientNetBuilder{g: nn.NewGraph()}
		x := b.g.Input(nn.NewInput("input_1", o.Size, o.Size, 3))
		x = b.g.Apply(nn.NewRescaling("rescaling", []float32{1.0 / 255}, nil), x)
		x = b.g.Apply(nn.NewNormalization("normalization"), x)
		inv := make([]float32, 3)
		for i, s := range imagenetStdRGB {
			inv[i] = float32(1 / math.Sqrt(s))
		}
		x = b.g.Apply(nn.NewRescaling("rescaling_1", inv, nil), x)
		t, bo, l, r := correctPad(o.Size, o.Size, 3)
		x = b.g.Apply(nn.NewZeroPadding2D("stem_conv_pad", t, bo, l, r), x)
		x = b.conv(x, "stem_conv", roundFilters(32), 3, 2, tensor.Valid, false, tensor.Linear)
		x = b.bnAct(x, "stem_bn", "stem_activation")
		size := (o.Size + 1) / 2

		total := 0
		for _, a := range efficientNetBlocks {
			total += roundRepeats(a.repeats)
		}
		n := 0
		for i, a := range efficientNetBlocks {
			a.in, a.out = roundFilters(a.in), roundFilters(a.out)
			reps := roundRepeats(a.repeats)
			for j := 0; j < reps; j++ {
				if j > 0 {
					a.stride, a.in = 1, a.out
				}
				name := fmt.Sprintf("block%d%c_", i+1, 'a'+j)
				x, size = b.block(x, size, a, dropConnect*float64(n)/float64(total), name)
				n++
			}
		}
		x = b.conv(x, "top_conv", roundFilters(1280), 1, 1, tensor.Same, false, tensor.Linear)
		x = b.bnAct(x, "top_bn", "top_activation")
		if o.IncludeTop {
			x = b.g.Apply(nn.NewGlobalAveragePooling2D("avg_pool"), x)
			x = b.g.Apply(nn.NewDropout("top_dropout", 0.2), x)
			x = b.g.Apply(nn.NewDense("predictions", o.Classes, "softmax"), x)
		} else {
			x = addTop(b.g, x, o, "", "avg_pool", "max_pool")
		}
		return b.g, x, b.g.Err()
	}
}
