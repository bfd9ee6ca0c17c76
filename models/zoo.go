// Package models is the model zoo: Keras' InceptionV3 and MobileNetV2 built
// layer for layer from package nn, the registry of their official ImageNet
// weight files, and loading of Keras .h5 weight files by layer name. Adding
// a backbone is one file with a builder and one Register call.
package models

import (
	"fmt"
	"sort"
	"strings"

	"trashsort/nn"
)

// Options select a variant of a model, as keras.applications' arguments do.
type Options struct {
	// Size is the input height and width (0: the model's default).
	Size int
	// IncludeTop adds the ImageNet classifier with Classes outputs.
	IncludeTop bool
	Classes    int
	// Pooling is "", "avg" or "max": the global pooling after the base when
	// IncludeTop is false.
	Pooling string
	// Alpha is MobileNetV2's width multiplier (0 means 1.0).
	Alpha float64
}

// Weights describes an official Keras weight file.
type Weights struct {
	File string
	URL  string
	// MD5 is the hash Keras pins (empty where Keras pins none).
	MD5 string
}

// Spec is one registered backbone.
type Spec struct {
	// Name as used on the command line, e.g. "inception_v3".
	Name string
	// DefaultSize is the input size the model was trained at; MinSize the smallest accepted.
	DefaultSize, MinSize int
	// Preprocess names the input scaling the backbone expects ("tf": x/127.5 - 1).
	Preprocess string
	// FeatureLayer is the last layer of the base (its output feeds the head).
	FeatureLayer string
	// FineTuneFrom is the first layer the classic recipe unfreezes in stage two.
	FineTuneFrom string
	// NoTop is the ImageNet no-top weight file.
	NoTop Weights
	// Alpha is passed to the builder (MobileNetV2 variants).
	Alpha float64
	graph func(Options) (*nn.Graph, nn.Node, error)
}

// Build constructs the model with the spec's defaults filled in.
func (s Spec) Build(o Options) (*nn.Model, error) {
	g, out, err := s.Graph(o)
	if err != nil {
		return nil, err
	}
	return g.Build(out)
}

// Graph constructs the model's graph without building it, so that a head
// can be added; out is the base's output node.
func (s Spec) Graph(o Options) (*nn.Graph, nn.Node, error) {
	if o.Size == 0 {
		o.Size = s.DefaultSize
	}
	if o.Size < s.MinSize {
		return nil, nn.Node{}, fmt.Errorf("%s: input size %d is below the minimum of %d", s.Name, o.Size, s.MinSize)
	}
	if o.Alpha == 0 {
		o.Alpha = s.Alpha
	}
	if o.IncludeTop && o.Classes < 1 {
		o.Classes = 1000
	}
	return s.graph(o)
}

var registry = map[string]Spec{}

// Register adds a backbone to the zoo.
func Register(s Spec) { registry[s.Name] = s }

// Get returns the named backbone.
func Get(name string) (Spec, error) {
	s, ok := registry[strings.ToLower(name)]
	if !ok {
		return Spec{}, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// Names lists the registered backbones.
func Names() []string {
	var ns []string
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

const kerasApps = "https://storage.googleapis.com/tensorflow/keras-applications/"

func init() {
	Register(Spec{
		Name: "inception_v3", DefaultSize: 299, MinSize: 75, Preprocess: "tf",
		FeatureLayer: "mixed10", FineTuneFrom: "conv2d_81",
		NoTop: Weights{
			File: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
			URL:  kerasApps + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
			MD5:  "bcbd6486424b2319ff4ef7d526e38f63",
		},
		graph: inceptionV3Graph,
	})
	for _, a := range []struct {
		alpha float64
		tag   string
	}{{0.35, "0.35"}, {0.5, "0.5"}, {0.75, "0.75"}, {1.0, "1.0"}, {1.3, "1.3"}, {1.4, "1.4"}} {
		name := "mobilenet_v2_" + strings.ReplaceAll(a.tag, ".", "")
		if a.alpha == 1 {
			name = "mobilenet_v2"
		}
		file := fmt.Sprintf("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_%s_224_no_top.h5", a.tag)
		Register(Spec{
			Name: name, DefaultSize: 224, MinSize: 32, Preprocess: "tf", Alpha: a.alpha,
			FeatureLayer: "out_relu", FineTuneFrom: "block_13_expand",
			NoTop: Weights{File: file, URL: kerasApps + "mobilenet_v2/" + file},
			graph: mobileNetV2Graph,
		})
	}
}
