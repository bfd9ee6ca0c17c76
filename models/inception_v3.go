package models

import (
	"fmt"

	"trashsort/nn"
)

func init() {
	Register(Spec{
		Name: "inception_v3", DefaultSize: 299, MinSize: 75, Preprocess: PreprocessTF, Default: true,
		FeatureLayer: "mixed10", FineTuneFrom: "conv2d_81", LastConvLayer: "mixed10",
		// MD5: file_hash in keras/src/applications/inception_v3.py. Size:
		// the length the URL serves, as Keras' downloader reports it (the
		// examples on keras.io show it). No SHA-256 is published.
		NoTop: Weights{
			File: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
			URL:  "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
			MD5:  "bcbd6486424b2319ff4ef7d526e38f63",
			Size: 87910968,
		},
		MACs:    5.713e9,
		Builder: inceptionV3Graph,
	})
}

// counters hands out Keras' automatic layer names (conv2d_1, conv2d_2, ...).
type counters map[string]int

func (c counters) next(prefix string) string {
	c[prefix]++
	return fmt.Sprintf("%s_%d", prefix, c[prefix])
}

// inceptionBuilder mirrors keras.applications.inception_v3: one conv2d_bn
// helper and a block-by-block body.
type inceptionBuilder struct {
	g *nn.Graph
	n counters
}

// convBN is Keras' conv2d_bn: Conv2D (no bias) + BatchNormalization
// (scale=False) + ReLU.
func (b *inceptionBuilder) convBN(x nn.Node, filters, rows, cols int, padding string, stride int) nn.Node {
	x = b.g.Apply(nn.NewConv2D(b.n.next("conv2d"), filters, rows, cols, stride, stride, padding, false), x)
	bn := nn.NewBatchNormalization(b.n.next("batch_normalization"))
	bn.Scale = false
	x = b.g.Apply(bn, x)
	return b.g.Apply(nn.NewActivation(b.n.next("activation"), "relu"), x)
}

func (b *inceptionBuilder) conv(x nn.Node, filters, rows, cols int) nn.Node {
	return b.convBN(x, filters, rows, cols, "same", 1)
}

func (b *inceptionBuilder) avgPool(x nn.Node) nn.Node {
	return b.g.Apply(nn.NewAveragePooling2D(b.n.next("average_pooling2d"), 3, 3, 1, 1, "same"), x)
}

func (b *inceptionBuilder) maxPool(x nn.Node) nn.Node {
	return b.g.Apply(nn.NewMaxPooling2D(b.n.next("max_pooling2d"), 3, 3, 2, 2, "valid"), x)
}

func (b *inceptionBuilder) concat(name string, xs ...nn.Node) nn.Node {
	if name == "" {
		name = b.n.next("concatenate")
	}
	return b.g.Apply(nn.NewConcatenate(name), xs...)
}

// InceptionV3 builds Keras' InceptionV3 for size x size x 3 inputs (size >= 75).
func InceptionV3(o Options) (*nn.Model, error) {
	g, out, err := inceptionV3Graph(o)
	if err != nil {
		return nil, err
	}
	return g.Build(out)
}

func inceptionV3Graph(o Options) (*nn.Graph, nn.Node, error) {
	if o.Size < 75 {
		return nil, nn.Node{}, fmt.Errorf("inception_v3: input size %d is below the minimum of 75", o.Size)
	}
	b := &inceptionBuilder{g: nn.NewGraph(), n: counters{}}
	in := b.g.Input(nn.NewInput(b.n.next("input"), o.Size, o.Size, 3))
	x := b.convBN(in, 32, 3, 3, "valid", 2)
	x = b.convBN(x, 32, 3, 3, "valid", 1)
	x = b.conv(x, 64, 3, 3)
	x = b.maxPool(x)
	x = b.convBN(x, 80, 1, 1, "valid", 1)
	x = b.convBN(x, 192, 3, 3, "valid", 1)
	x = b.maxPool(x)

	// mixed 0, 1, 2: 35 x 35 x 256, 288, 288
	for i, poolFilters := range []int{32, 64, 64} {
		b1 := b.conv(x, 64, 1, 1)
		b5 := b.conv(x, 48, 1, 1)
		b5 = b.conv(b5, 64, 5, 5)
		b3 := b.conv(x, 64, 1, 1)
		b3 = b.conv(b3, 96, 3, 3)
		b3 = b.conv(b3, 96, 3, 3)
		bp := b.avgPool(x)
		bp = b.conv(bp, poolFilters, 1, 1)
		x = b.concat(fmt.Sprintf("mixed%d", i), b1, b5, b3, bp)
	}

	// mixed 3: 17 x 17 x 768
	{
		b3 := b.convBN(x, 384, 3, 3, "valid", 2)
		bd := b.conv(x, 64, 1, 1)
		bd = b.conv(bd, 96, 3, 3)
		bd = b.convBN(bd, 96, 3, 3, "valid", 2)
		bp := b.maxPool(x)
		x = b.concat("mixed3", b3, bd, bp)
	}

	// mixed 4, 5, 6, 7: 17 x 17 x 768
	for i, f := range []int{128, 160, 160, 192} {
		b1 := b.conv(x, 192, 1, 1)
		b7 := b.conv(x, f, 1, 1)
		b7 = b.conv(b7, f, 1, 7)
		b7 = b.conv(b7, 192, 7, 1)
		bd := b.conv(x, f, 1, 1)
		bd = b.conv(bd, f, 7, 1)
		bd = b.conv(bd, f, 1, 7)
		bd = b.conv(bd, f, 7, 1)
		bd = b.conv(bd, 192, 1, 7)
		bp := b.avgPool(x)
		bp = b.conv(bp, 192, 1, 1)
		x = b.concat(fmt.Sprintf("mixed%d", 4+i), b1, b7, bd, bp)
	}

	// mixed 8: 8 x 8 x 1280
	{
		b3 := b.conv(x, 192, 1, 1)
		b3 = b.convBN(b3, 320, 3, 3, "valid", 2)
		b7 := b.conv(x, 192, 1, 1)
		b7 = b.conv(b7, 192, 1, 7)
		b7 = b.conv(b7, 192, 7, 1)
		b7 = b.convBN(b7, 192, 3, 3, "valid", 2)
		bp := b.maxPool(x)
		x = b.concat("mixed8", b3, b7, bp)
	}

	// mixed 9, 10: 8 x 8 x 2048
	for i := 0; i < 2; i++ {
		b1 := b.conv(x, 320, 1, 1)
		b3 := b.conv(x, 384, 1, 1)
		b31 := b.conv(b3, 384, 1, 3)
		b32 := b.conv(b3, 384, 3, 1)
		b3 = b.concat(fmt.Sprintf("mixed9_%d", i), b31, b32)
		bd := b.conv(x, 448, 1, 1)
		bd = b.conv(bd, 384, 3, 3)
		bd1 := b.conv(bd, 384, 1, 3)
		bd2 := b.conv(bd, 384, 3, 1)
		bd = b.concat("", bd1, bd2)
		bp := b.avgPool(x)
		bp = b.conv(bp, 192, 1, 1)
		x = b.concat(fmt.Sprintf("mixed%d", 9+i), b1, b3, bd, bp)
	}
	x = addTop(b.g, x, o, "avg_pool", "global_average_pooling2d", "global_max_pooling2d")
	return b.g, x, b.g.Err()
}
