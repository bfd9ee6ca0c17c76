package keras

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"trashsort/classifier"
	"trashsort/nn"
	"trashsort/tensor"
)

// KerasVersion is the Keras release whose layout and layer configurations
// the export follows (the last Keras 2, tf.keras of TensorFlow 2.15); Keras 3
// reads it through its legacy .h5 loader.
const KerasVersion = "2.15.0"

// Backend is the backend the file names, as Keras 2 writes it.
const Backend = "tensorflow"

// object is a JSON object that keeps its keys in order, as Keras' own
// get_config dictionaries print.
type object []member

type member struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// f32 is a float32 setting as Python prints it (0.001, not 0.0010000000474974513).
func f32(v float32) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
	return f
}

func initializer(class string, config object) object {
	if config == nil {
		config = object{}
	}
	return object{{"class_name", class}, {"config", config}}
}

var (
	glorot = initializer("GlorotUniform", object{{"seed", nil}})
	zeros  = initializer("Zeros", nil)
	ones   = initializer("Ones", nil)
)

// common is what every Keras 2 layer configuration starts with.
func common(l nn.Layer) object {
	b := l.Base()
	return object{{"name", b.Name()}, {"trainable", b.Trainable}, {"dtype", "float32"}}
}

// activationName is Keras' name of a convolution's fused activation.
func activationName(kind int) (string, error) {
	switch kind {
	case tensor.Linear:
		return "linear", nil
	case tensor.ReLU:
		return "relu", nil
	case tensor.Sigmoid:
		return "sigmoid", nil
	case tensor.Swish:
		return "swish", nil
	}
	return "", fmt.Errorf("activation %d has no Keras 2 name", kind)
}

// layerConfig returns the Keras class name and get_config() of one layer.
// inShape is its first input's shape without the batch dimension.
func layerConfig(l nn.Layer, inShape []int) (string, object, error) {
	name := l.Base().Name()
	c := common(l)
	switch t := l.(type) {
	case *nn.InputLayer:
		shape := []any{nil}
		for _, d := range t.Shape {
			shape = append(shape, d)
		}
		return "InputLayer", object{{"batch_input_shape", shape}, {"dtype", "float32"}, {"sparse", false}, {"ragged", false}, {"name", name}}, nil
	case *nn.Conv2D:
		act, err := activationName(t.Activation)
		if err != nil {
			return "", nil, fmt.Errorf("layer %s: %w", name, err)
		}
		geometry := object{
			{"kernel_size", []int{t.KH, t.KW}}, {"strides", []int{t.SH, t.SW}}, {"padding", t.Padding},
			{"data_format", "channels_last"}, {"dilation_rate", []int{1, 1}}, {"groups", 1},
			{"activation", act}, {"use_bias", t.UseBias},
		}
		if t.Depthwise {
			c = append(c, geometry...)
			c = append(c, object{
				{"bias_initializer", zeros}, {"bias_regularizer", nil}, {"activity_regularizer", nil}, {"bias_constraint", nil},
				{"depth_multiplier", 1}, {"depthwise_initializer", glorot}, {"depthwise_regularizer", nil}, {"depthwise_constraint", nil},
			}...)
			return "DepthwiseConv2D", c, nil
		}
		c = append(c, member{"filters", t.Filters})
		c = append(c, geometry...)
		c = append(c, object{
			{"kernel_initializer", glorot}, {"bias_initializer", zeros}, {"kernel_regularizer", nil}, {"bias_regularizer", nil},
			{"activity_regularizer", nil}, {"kernel_constraint", nil}, {"bias_constraint", nil},
		}...)
		return "Conv2D", c, nil
	case *nn.BatchNormalization:
		c = append(c, object{
			{"axis", len(inShape)}, {"momentum", f32(t.Momentum)}, {"epsilon", f32(t.Epsilon)}, {"center", t.Center}, {"scale", t.Scale},
			{"beta_initializer", zeros}, {"gamma_initializer", ones}, {"moving_mean_initializer", zeros}, {"moving_variance_initializer", ones},
			{"beta_regularizer", nil}, {"gamma_regularizer", nil}, {"beta_constraint", nil}, {"gamma_constraint", nil},
		}...)
		return "BatchNormalization", c, nil
	case *nn.Activation:
		kind := t.Kind
		if kind == "" {
			kind = "linear"
		}
		if t.Base().Class() == "ReLU" || kind == "relu6" {
			var maxValue any
			if kind == "relu6" {
				maxValue = 6.0
			}
			return "ReLU", append(c, object{{"max_value", maxValue}, {"negative_slope", 0.0}, {"threshold", 0.0}}...), nil
		}
		switch kind {
		case "linear", "relu", "sigmoid", "swish", "softmax":
		case "silu":
			kind = "swish"
		default:
			return "", nil, fmt.Errorf("layer %s: activation %q has no Keras 2 name", name, t.Kind)
		}
		return "Activation", append(c, member{"activation", kind}), nil
	case *nn.Pooling2D:
		c = append(c, object{{"pool_size", []int{t.PH, t.PW}}, {"padding", t.Padding}, {"strides", []int{t.SH, t.SW}}, {"data_format", "channels_last"}}...)
		return t.Base().Class(), c, nil
	case *nn.ZeroPadding2D:
		return "ZeroPadding2D", append(c, object{{"padding", [][]int{{t.Top, t.Bottom}, {t.Left, t.Right}}}, {"data_format", "channels_last"}}...), nil
	case *nn.Concatenate:
		return "Concatenate", append(c, member{"axis", len(inShape)}), nil
	case *nn.Add:
		return "Add", c, nil
	case *nn.Multiply:
		return "Multiply", c, nil
	case *nn.GlobalAveragePooling2D:
		return "GlobalAveragePooling2D", append(c, object{{"data_format", "channels_last"}, {"keepdims", false}}...), nil
	case *nn.GlobalMaxPooling2D:
		return "GlobalMaxPooling2D", append(c, object{{"data_format", "channels_last"}, {"keepdims", false}}...), nil
	case *nn.Reshape:
		return "Reshape", append(c, member{"target_shape", t.Target}), nil
	case *nn.Flatten:
		return "Flatten", append(c, member{"data_format", "channels_last"}), nil
	case *nn.Dropout:
		var noise any
		if t.PerExample {
			noise = []any{nil, 1, 1, 1}
		}
		return "Dropout", append(c, object{{"rate", f32(t.Rate)}, {"noise_shape", noise}, {"seed", nil}}...), nil
	case *nn.Dense:
		act := t.Activation
		if act == "" {
			act = "linear"
		}
		c = append(c, object{
			{"units", t.Units}, {"activation", act}, {"use_bias", t.UseBias},
			{"kernel_initializer", glorot}, {"bias_initializer", zeros}, {"kernel_regularizer", nil}, {"bias_regularizer", nil},
			{"activity_regularizer", nil}, {"kernel_constraint", nil}, {"bias_constraint", nil},
		}...)
		return "Dense", c, nil
	case *nn.Rescaling:
		return "Rescaling", append(c, object{{"scale", scalars(t.Scale, 1)}, {"offset", scalars(t.Offset, 0)}}...), nil
	case *nn.Normalization:
		return "Normalization", append(c, object{{"axis", []int{-1}}, {"invert", false}, {"mean", nil}, {"variance", nil}}...), nil
	}
	return "", nil, fmt.Errorf("layer %s (%s) has no Keras export", name, l.Base().Class())
}

// scalars is one value as a number, several as a list.
func scalars(v []float32, def float32) any {
	switch len(v) {
	case 0:
		return f32(def)
	case 1:
		return f32(v[0])
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = f32(x)
	}
	return out
}

// Options choose what the exported model holds beyond the network.
type Options struct {
	// Preprocessing adds a Keras Rescaling layer after the input that
	// applies the model's preprocessing (InceptionV3's and MobileNetV2's
	// x/127.5 - 1), so that the model takes RGB pixels in [0, 255].
	// Without it the model takes preprocessed pixels, as
	// keras.applications models do (preprocess_input outside the model).
	Preprocessing bool
	// Uncalibrated keeps the last Dense layer's weights as trained. By
	// default the calibration temperature T is folded into them (kernel
	// and bias divided by T), so that the softmax gives trashsort's
	// calibrated probabilities.
	Uncalibrated bool
}

// weight is one weight as Keras stores it.
type weight struct {
	layer string // Keras layer name
	name  string // "<layer>/<weight>:0"
	shape []int
	data  []float32
	int64 bool // stored as int64 (Normalization's count)
}

// export is the model as Keras sees it: its configuration and weights.
type export struct {
	config  object   // {"class_name": "Functional", "config": ...}
	layers  []string // layer names in model.layers order
	weights map[string][]weight
	scale   []float32 // the preprocessing, x*scale + offset per channel
	offset  []float32
	rescale bool // a Rescaling layer was added
	folded  float64
}

// build walks clf's graph in Keras' model.layers order.
func build(clf *classifier.Classifier, o Options) (*export, error) {
	m := clf.Model
	if clf.Members() > 1 {
		return nil, fmt.Errorf("keras: an ensemble of %d models has no single Keras graph: export each member", clf.Members())
	}
	if len(m.Inputs) != 1 {
		return nil, fmt.Errorf("keras: the model has %d inputs, want 1", len(m.Inputs))
	}
	e := &export{weights: map[string][]weight{}, folded: 1}
	scale, offset, affine := preprocessing(clf)
	e.scale, e.offset = scale, offset
	names := map[string]bool{}
	for _, l := range m.Layers {
		names[l.Base().Name()] = true
	}
	input := m.Layers[m.Inputs[0]].Base().Name()
	source := input // what the input layer's consumers read
	var layers []any
	add := func(class string, cfg object, name string, inbound []string) {
		var node []any
		for _, in := range inbound {
			node = append(node, []any{in, 0, 0, object{}})
		}
		nodes := []any{}
		if len(node) > 0 {
			nodes = []any{node}
		}
		layers = append(layers, object{{"class_name", class}, {"config", cfg}, {"name", name}, {"inbound_nodes", nodes}})
		e.layers = append(e.layers, name)
	}
	temperature := clf.Temperature()
	for i, l := range m.Layers {
		b := l.Base()
		var inShape []int
		var inbound []string
		for k, j := range b.Inputs() {
			in := m.Layers[j].Base()
			if k == 0 {
				inShape = in.OutShape()
			}
			if j == m.Inputs[0] {
				inbound = append(inbound, source)
			} else {
				inbound = append(inbound, in.Name())
			}
		}
		class, cfg, err := layerConfig(l, inShape)
		if err != nil {
			return nil, fmt.Errorf("keras: %w", err)
		}
		add(class, cfg, b.Name(), inbound)
		fold := i == m.Output && !o.Uncalibrated && temperature != 1
		if fold {
			if d, ok := l.(*nn.Dense); !ok || d.Activation != "softmax" {
				return nil, fmt.Errorf("keras: the output layer %s is not a softmax Dense layer: the temperature cannot be folded into it (export uncalibrated)", b.Name())
			}
			e.folded = temperature
		}
		for _, p := range l.Params() {
			data := p.Value.Data
			if fold {
				data = make([]float32, len(p.Value.Data))
				for k, v := range p.Value.Data {
					data[k] = float32(float64(v) / temperature)
				}
			}
			_, isNorm := l.(*nn.Normalization)
			e.weights[b.Name()] = append(e.weights[b.Name()], weight{layer: b.Name(), name: b.Name() + "/" + p.Name + ":0",
				shape: p.Value.Shape, data: data, int64: isNorm && p.Name == "count"})
		}
		if i == m.Inputs[0] && o.Preprocessing {
			if !affine {
				return nil, fmt.Errorf("keras: the model's preprocessing %q is not a per-channel x*scale + offset: a Rescaling layer cannot hold it (export without it and preprocess outside)", clf.Meta.Preprocess)
			}
			if identity(scale, offset) {
				continue // nothing to apply (EfficientNet rescales inside)
			}
			name := "rescaling"
			for k := 1; names[name]; k++ {
				name = "rescaling_" + strconv.Itoa(k)
			}
			names[name] = true
			r := nn.NewRescaling(name, compact(scale), compact(offset))
			_, cfg, _ := layerConfig(r, nil)
			add("Rescaling", cfg, name, []string{input})
			source = name
			e.rescale = true
		}
	}
	output := m.Layers[m.Output].Base().Name()
	e.config = object{{"class_name", "Functional"}, {"config", object{
		{"name", "trashsort_" + clf.Meta.Backbone}, {"trainable", true}, {"layers", layers},
		{"input_layers", []any{[]any{input, 0, 0}}}, {"output_layers", []any{[]any{output, 0, 0}}},
	}}}
	return e, nil
}

// compact is one value where all channels share it.
func compact(v []float32) []float32 {
	for _, x := range v[1:] {
		if x != v[0] {
			return v
		}
	}
	return v[:1]
}

func identity(scale, offset []float32) bool {
	for c := range scale {
		if scale[c] != 1 || offset[c] != 0 {
			return false
		}
	}
	return true
}

// preprocessing finds the per-channel map x*scale + offset that clf's
// Preprocess applies; affine is false where it is not one (caffe's BGR).
func preprocessing(clf *classifier.Classifier) (scale, offset []float32, affine bool) {
	probe := []float32{0, 0, 0, 1, 1, 1, 255, 255, 255, 37, 99, 201}
	clf.Preprocess(probe)
	scale, offset = make([]float32, 3), make([]float32, 3)
	affine = true
	for c := 0; c < 3; c++ {
		offset[c], scale[c] = probe[c], probe[3+c]-probe[c]
		for i, x := range []float32{255, []float32{37, 99, 201}[c]} {
			want := x*scale[c] + offset[c]
			if got := probe[6+3*i+c]; math.Abs(float64(got-want)) > 1e-4*math.Max(1, math.Abs(float64(want))) {
				affine = false
			}
		}
	}
	// The exact factors of the modes whose probe rounds (x/127.5 - 1).
	if string(clf.Meta.Preprocess) == "tf" {
		for c := range scale {
			scale[c], offset[c] = float32(1/127.5), -1
		}
	}
	return scale, offset, affine
}
