package models

import (
	"fmt"

	"trashsort/nn"
)

func init() {
	Register(Spec{
		Name: "resnet50", DefaultSize: 224, MinSize: 32, Preprocess: PreprocessCaffe,
		FeatureLayer: "conv5_block3_out", FineTuneFrom: "conv5_block1_1_conv", LastConvLayer: "conv5_block3_out",
		// MD5: WEIGHTS_HASHES in keras/src/applications/resnet.py. Size: the
		// length the URL serves, as Keras' downloader reports it. No
		// SHA-256 is published.
		NoTop: Weights{
			File: "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
			URL:  "https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
			MD5:  "4d473c1dd8becc155b73f8504c6f6626",
			Size: 94765736,
		},
		MACs:    3.8682e9,
		Builder: resNet50Graph,
	})
}

// resNetBuilder mirrors keras.applications.resnet (ResNet v1, use_bias=True).
type resNetBuilder struct{ g *nn.Graph }

func (b *resNetBuilder) convBN(x nn.Node, name string, filters, k, stride int, padding string) nn.Node {
	x = b.g.Apply(nn.NewConv2D(name+"_conv", filters, k, k, stride, stride, padding, true), x)
	bn := nn.NewBatchNormalization(name + "_bn")
	bn.Epsilon = 1.001e-5
	return b.g.Apply(bn, x)
}

// block1 is Keras' resnet.block1: a bottleneck residual block.
func (b *resNetBuilder) block1(x nn.Node, filters, stride int, convShortcut bool, name string) nn.Node {
	shortcut := x
	if convShortcut {
		shortcut = b.convBN(x, name+"_0", 4*filters, 1, stride, "valid")
	}
	x = b.convBN(x, name+"_1", filters, 1, stride, "valid")
	x = b.g.Apply(nn.NewActivation(name+"_1_relu", "relu"), x)
	x = b.convBN(x, name+"_2", filters, 3, 1, "same")
	x = b.g.Apply(nn.NewActivation(name+"_2_relu", "relu"), x)
	x = b.convBN(x, name+"_3", 4*filters, 1, 1, "valid")
	x = b.g.Apply(nn.NewAdd(name+"_add"), shortcut, x)
	return b.g.Apply(nn.NewActivation(name+"_out", "relu"), x)
}

// stack1 is Keras' resnet.stack1: blocks residual blocks, the first one
// strided with a projection shortcut.
func (b *resNetBuilder) stack1(x nn.Node, filters, blocks, stride int, name string) nn.Node {
	x = b.block1(x, filters, stride, true, name+"_block1")
	for i := 2; i <= blocks; i++ {
		x = b.block1(x, filters, 1, false, fmt.Sprintf("%s_block%d", name, i))
	}
	return x
}

func resNet50Graph(o Options) (*nn.Graph, nn.Node, error) {
	b := &resNetBuilder{g: nn.NewGraph()}
	x := b.g.Input(nn.NewInput("input_1", o.Size, o.Size, 3))
	x = b.g.Apply(nn.NewZeroPadding2D("conv1_pad", 3, 3, 3, 3), x)
	x = b.convBN(x, "conv1", 64, 7, 2, "valid")
	x = b.g.Apply(nn.NewActivation("conv1_relu", "relu"), x)
	x = b.g.Apply(nn.NewZeroPadding2D("pool1_pad", 1, 1, 1, 1), x)
	x = b.g.Apply(nn.NewMaxPooling2D("pool1_pool", 3, 3, 2, 2, "valid"), x)
	x = b.stack1(x, 64, 3, 1, "conv2")
	x = b.stack1(x, 128, 4, 2, "conv3")
	x = b.stack1(x, 256, 6, 2, "conv4")
	x = b.stack1(x, 512, 3, 2, "conv5")
	x = addTop(b.g, x, o, "avg_pool", "avg_pool", "max_pool")
	return b.g, x, b.g.Err()
}
