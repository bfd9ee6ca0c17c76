// Package models is the model zoo: Keras' ImageNet backbones built layer for
// layer from package nn, a registry that holds everything about each of them,
// and loading of Keras .h5 weight files by layer name.
//
// A backbone is one file in this package: a builder and an init function
// that calls Register with its Spec (as Go's image codecs register
// themselves). Nothing else in the program names a backbone.
package models

import (
	"fmt"
	"math"
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

// Weights describes an official Keras weight file. A download is checked
// against every pin that is set, and a known Size also bounds the transfer;
// each backbone's file says where its pins come from.
type Weights struct {
	File string
	URL  string
	// MD5 is the hash Keras pins (empty where Keras pins none).
	MD5 string
	// SHA256 is the official file's SHA-256 (empty where no trustworthy
	// value is published: the first download's SHA-256 is then recorded
	// and the cached file is checked against it).
	SHA256 string
	// Size is the file's length in bytes (0 where unknown).
	Size int64
}

// Builder constructs a backbone's graph for the given options (Size and
// Alpha already defaulted and checked against the spec); out is the base's
// output node, or the top's when Options.IncludeTop is set.
type Builder func(Options) (g *nn.Graph, out nn.Node, err error)

// Spec is everything the program knows about one backbone.
type Spec struct {
	// Name as used on the command line, e.g. "inception_v3".
	Name string
	// DefaultSize is the input size the model was trained at; MinSize the smallest accepted.
	DefaultSize, MinSize int
	// Preprocess is the input scaling the ImageNet weights expect.
	Preprocess Preprocessing
	// FeatureLayer is the last layer of the base (its output feeds the head).
	FeatureLayer string
	// FineTuneFrom is the first layer the classic recipe unfreezes in stage two.
	FineTuneFrom string
	// LastConvLayer is the output of the last convolutional block, the
	// layer class-activation maps (Grad-CAM) are computed on.
	LastConvLayer string
	// NoTop is the ImageNet no-top weight file.
	NoTop Weights
	// Alpha is passed to the builder (MobileNetV2 variants).
	Alpha float64
	// Default marks the backbone used when none is named (one spec only).
	Default bool
	// MACs is the number of multiply-adds of one forward pass of the base
	// (no top) at DefaultSize; see FLOPs.
	MACs float64
	// Build constructs the graph.
	Builder Builder
}

// FLOPs is the forward cost of the base for one size x size image, two
// floating-point operations per multiply-add. Convolution cost grows with
// the number of output positions, so MACs is scaled by (size/DefaultSize)^2.
func (s Spec) FLOPs(size int) float64 {
	if size == 0 {
		size = s.DefaultSize
	}
	r := float64(size) / float64(s.DefaultSize)
	return 2 * s.MACs * r * r
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
	switch o.Pooling {
	case "", "avg", "max":
	default:
		return nil, nn.Node{}, fmt.Errorf("%s: unknown pooling %q (avg or max)", s.Name, o.Pooling)
	}
	return s.Builder(o)
}

var (
	registry    = map[string]Spec{}
	defaultName string
)

// Register adds a backbone to the zoo. It is called from init functions and
// panics on a spec that is incomplete or whose name is taken, since either
// is a programming error found by the first test run.
func Register(s Spec) {
	if err := s.check(); err != nil {
		panic(err)
	}
	if _, dup := registry[s.Name]; dup {
		panic(fmt.Sprintf("models: backbone %q registered twice", s.Name))
	}
	if s.Default {
		if defaultName != "" {
			panic(fmt.Sprintf("models: backbones %q and %q both claim to be the default", defaultName, s.Name))
		}
		defaultName = s.Name
	}
	registry[s.Name] = s
}

// Default is the name of the backbone used when none is named.
func Default() string { return defaultName }

func (s Spec) check() error {
	switch {
	case s.Name == "" || s.Name != strings.ToLower(s.Name):
		return fmt.Errorf("models: backbone name %q must be non-empty lower case", s.Name)
	case s.Builder == nil:
		return fmt.Errorf("models: backbone %q has no builder", s.Name)
	case s.DefaultSize < s.MinSize || s.MinSize < 1:
		return fmt.Errorf("models: backbone %q: sizes %d (default) and %d (minimum) do not fit", s.Name, s.DefaultSize, s.MinSize)
	case s.FeatureLayer == "" || s.FineTuneFrom == "" || s.LastConvLayer == "":
		return fmt.Errorf("models: backbone %q needs its feature, fine-tune and last convolutional layers", s.Name)
	case s.NoTop.File == "" || s.NoTop.URL == "":
		return fmt.Errorf("models: backbone %q needs its weight file and URL", s.Name)
	case s.MACs <= 0 || math.IsInf(s.MACs, 0):
		return fmt.Errorf("models: backbone %q needs its multiply-add count", s.Name)
	}
	return s.Preprocess.Validate()
}

// Get returns the named backbone.
func Get(name string) (Spec, error) {
	s, ok := registry[strings.ToLower(name)]
	if !ok {
		return Spec{}, fmt.Errorf("unknown backbone %q (known: %s)", name, strings.Join(Names(), ", "))
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

// addTop appends Keras' classifier (GlobalAveragePooling2D avgName + Dense
// softmax "predictions") or the requested global pooling, named as
// keras.applications names them for the backbone.
func addTop(g *nn.Graph, x nn.Node, o Options, avgName, poolAvg, poolMax string) nn.Node {
	if o.IncludeTop {
		x = g.Apply(nn.NewGlobalAveragePooling2D(avgName), x)
		return g.Apply(nn.NewDense("predictions", o.Classes, "softmax"), x)
	}
	switch o.Pooling {
	case "avg":
		return g.Apply(nn.NewGlobalAveragePooling2D(poolAvg), x)
	case "max":
		return g.Apply(nn.NewGlobalMaxPooling2D(poolMax), x)
	}
	return x
}
