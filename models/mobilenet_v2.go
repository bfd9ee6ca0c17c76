package models

import (
	"fmt"
	"strings"

	"trashsort/nn"
)

func init() {
	// Keras pins no hash for MobileNetV2's files (keras/src/applications/
	// mobilenet_v2.py calls get_file without file_hash), so a download is
	// checked by size where the size is known and by structure always, and
	// its SHA-256 is recorded on first download. The sizes are the lengths
	// the URLs serve, as Keras' downloader reports them; where no report
	// was found the size stays unknown rather than guessed.
	for _, a := range []struct {
		alpha float64
		tag   string
		macs  float64
		size  int64
	}{
		{0.35, "0.35", 58.01e6, 2019640},
		{0.5, "0.5", 95.85e6, 0},
		{0.75, "0.75", 207.8e6, 0},
		{1.0, "1.0", 299.5e6, 9406464},
		{1.3, "1.3", 507.7e6, 0},
		{1.4, "1.4", 580.4e6, 0},
	} {
		name := "mobilenet_v2_" + strings.ReplaceAll(a.tag, ".", "")
		if a.alpha == 1 {
			name = "mobilenet_v2"
		}
		file := fmt.Sprintf("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_%s_224_no_top.h5", a.tag)
		Register(Spec{
			Name: name, DefaultSize: 224, MinSize: 32, Preprocess: PreprocessTF, Alpha: a.alpha,
			FeatureLayer: "out_relu", FineTuneFrom: "block_13_expand", LastConvLayer: "out_relu",
			NoTop:   Weights{File: file, URL: "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + file, Size: a.size},
			MACs:    a.macs,
			Builder: mobileNetV2Graph,
		})
	}
}

// makeDivisible is Keras' _make_divisible: round v to a multiple of divisor,
// never going below 90% of v.
func makeDivisible(v float64, divisor int) int {
	n := max(divisor, int(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

type mobileNetBuilder struct {
	g *nn.Graph
}

func (b *mobileNetBuilder) bn(name string, x nn.Node) nn.Node {
	l := nn.NewBatchNormalization(name)
	l.Momentum = 0.999
	return b.g.Apply(l, x)
}

func (b *mobileNetBuilder) pad(name string, x nn.Node, h, w int) nn.Node {
	t, bo, l, r := correctPad(h, w, 3)
	return b.g.Apply(nn.NewZeroPadding2D(name, t, bo, l, r), x)
}

// invertedRes is Keras' _inverted_res_block.
func (b *mobileNetBuilder) invertedRes(x nn.Node, shape []int, expansion, stride int, alpha float64, filters, id int) (nn.Node, []int) {
	in := x
	inC := shape[2]
	pw := makeDivisible(float64(int(float64(filters)*alpha)), 8)
	prefix := fmt.Sprintf("block_%d_", id)
	c := inC
	if id > 0 {
		c = expansion * inC
		x = b.g.Apply(nn.NewConv2D(prefix+"expand", c, 1, 1, 1, 1, "same", false), x)
		x = b.bn(prefix+"expand_BN", x)
		x = b.g.Apply(nn.NewReLU(prefix+"expand_relu", 6), x)
	} else {
		prefix = "expanded_conv_"
	}
	h, w := shape[0], shape[1]
	padding := "same"
	if stride == 2 {
		x = b.pad(prefix+"pad", x, h, w)
		padding = "valid"
		h, w = (h+1)/2, (w+1)/2
	}
	x = b.g.Apply(nn.NewDepthwiseConv2D(prefix+"depthwise", 3, 3, stride, stride, padding, false), x)
	x = b.bn(prefix+"depthwise_BN", x)
	x = b.g.Apply(nn.NewReLU(prefix+"depthwise_relu", 6), x)
	x = b.g.Apply(nn.NewConv2D(prefix+"project", pw, 1, 1, 1, 1, "same", false), x)
	x = b.bn(prefix+"project_BN", x)
	if inC == pw && stride == 1 {
		x = b.g.Apply(nn.NewAdd(prefix+"add"), in, x)
	}
	return x, []int{h, w, pw}
}

// MobileNetV2 builds Keras' MobileNetV2 with width multiplier o.Alpha (0.35 to 1.4).
func MobileNetV2(o Options) (*nn.Model, error) {
	g, out, err := mobileNetV2Graph(o)
	if err != nil {
		return nil, err
	}
	return g.Build(out)
}

func mobileNetV2Graph(o Options) (*nn.Graph, nn.Node, error) {
	alpha := o.Alpha
	if alpha == 0 {
		alpha = 1
	}
	if alpha < 0.35 || alpha > 1.4 {
		return nil, nn.Node{}, fmt.Errorf("mobilenet_v2: alpha %g outside [0.35, 1.4]", alpha)
	}
	if o.Size < 32 {
		return nil, nn.Node{}, fmt.Errorf("mobilenet_v2: input size %d is below the minimum of 32", o.Size)
	}
	b := &mobileNetBuilder{g: nn.NewGraph()}
	x := b.g.Input(nn.NewInput("input_1", o.Size, o.Size, 3))
	first := makeDivisible(32*alpha, 8)
	x = b.pad("Conv1_pad", x, o.Size, o.Size)
	x = b.g.Apply(nn.NewConv2D("Conv1", first, 3, 3, 2, 2, "valid", false), x)
	x = b.bn("bn_Conv1", x)
	x = b.g.Apply(nn.NewReLU("Conv1_relu", 6), x)
	s := (o.Size + 1) / 2
	shape := []int{s, s, first}
	blocks := []struct{ filters, stride, expansion int }{
		{16, 1, 1},
		{24, 2, 6}, {24, 1, 6},
		{32, 2, 6}, {32, 1, 6}, {32, 1, 6},
		{64, 2, 6}, {64, 1, 6}, {64, 1, 6}, {64, 1, 6},
		{96, 1, 6}, {96, 1, 6}, {96, 1, 6},
		{160, 2, 6}, {160, 1, 6}, {160, 1, 6},
		{320, 1, 6},
	}
	for id, bl := range blocks {
		x, shape = b.invertedRes(x, shape, bl.expansion, bl.stride, alpha, bl.filters, id)
	}
	last := 1280
	if alpha > 1 {
		last = makeDivisible(1280*alpha, 8)
	}
	x = b.g.Apply(nn.NewConv2D("Conv_1", last, 1, 1, 1, 1, "valid", false), x)
	x = b.bn("Conv_1_bn", x)
	x = b.g.Apply(nn.NewReLU("out_relu", 6), x)
	x = addTop(b.g, x, o, "global_average_pooling2d", "global_average_pooling2d", "global_max_pooling2d")
	return b.g, x, b.g.Err()
}
