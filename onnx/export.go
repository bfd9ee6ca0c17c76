// Package onnx writes a classifier as an ONNX model (opset 13) that ONNX
// Runtime, onnxruntime-web and other runtimes can run. The graph takes raw
// RGB pixels in [0, 255], already resized to the model's input size, as a
// float32 NHWC tensor "pixels" [batch, size, size, 3]; it applies the
// model's preprocessing, transposes to NCHW, runs the backbone and head,
// divides the logits by the calibration temperature and answers
// "probabilities" [batch, classes]. Class names, input size, resize filter,
// temperature and "unsure" threshold are in the model's metadata_props.
package onnx

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"trashsort/atomicfile"
	"trashsort/classifier"
	"trashsort/nn"
	"trashsort/onnx/onnxpb"
	"trashsort/tensor"
)

// Opset is the ONNX operator set the export uses.
const Opset = 13

// irVersion is the IR version that goes with Opset 13.
const irVersion = 7

// Input and Output are the graph's tensor names.
const (
	Input  = "pixels"
	Output = "probabilities"
)

type builder struct {
	g     *onnxpb.GraphProto
	names map[string]bool
}

func (b *builder) unique(base string) string {
	n := base
	for i := 1; b.names[n]; i++ {
		n = base + "_" + strconv.Itoa(i)
	}
	b.names[n] = true
	return n
}

func (b *builder) node(op string, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) string {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(b.unique(name)), Input: in, Output: []string{out}, Attribute: attrs})
	return out
}

func (b *builder) floats(name string, dims []int64, v []float32) string {
	name = b.unique(name)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: v})
	return name
}

func (b *builder) int64s(name string, v []int64) string {
	name = b.unique(name)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: v})
	return name
}

func ints(name string, v ...int) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum()}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func intAttr(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func tensorType(dims ...any) *onnxpb.TypeProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}})
		case string:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}
}

// preprocessing finds the per-channel affine map x*scale + offset that the
// classifier's Preprocess applies, and checks that it is affine.
func preprocessing(clf *classifier.Classifier) (scale, offset []float32, err error) {
	probe := []float32{0, 0, 0, 1, 1, 1, 255, 255, 255, 37, 99, 201}
	clf.Preprocess(probe)
	scale, offset = make([]float32, 3), make([]float32, 3)
	for c := 0; c < 3; c++ {
		offset[c], scale[c] = probe[c], probe[3+c]-probe[c]
		for i, x := range []float32{255, []float32{37, 99, 201}[c]} {
			want := x*scale[c] + offset[c]
			if got := probe[6+3*i+c]; math.Abs(float64(got-want)) > 1e-4*math.Max(1, math.Abs(float64(want))) {
				return nil, nil, fmt.Errorf("onnx: the model's preprocessing %q is not a per-channel affine map", clf.Meta.Preprocess)
			}
		}
	}
	return scale, offset, nil
}

// Model builds the ONNX model of clf.
func Model(clf *classifier.Classifier) (*onnxpb.ModelProto, error) {
	m := clf.Model
	b := &builder{g: &onnxpb.GraphProto{Name: proto.String("trashsort_" + clf.Meta.Backbone)}, names: map[string]bool{Input: true}}
	size := clf.Meta.Size
	b.g.Input = []*onnxpb.ValueInfoProto{{Name: proto.String(Input), Type: tensorType("batch", size, size, 3),
		DocString: proto.String("RGB pixels in [0, 255], resized to the input size, NHWC")}}
	scale, offset, err := preprocessing(clf)
	if err != nil {
		return nil, err
	}
	x := b.node("Mul", "preprocess_scale", []string{Input, b.floats("preprocess_scale", []int64{3}, scale)}, "preprocess_scaled")
	x = b.node("Add", "preprocess_offset", []string{x, b.floats("preprocess_offset", []int64{3}, offset)}, "preprocessed")
	x = b.node("Transpose", "to_nchw", []string{x}, "preprocessed_nchw", ints("perm", 0, 3, 1, 2))
	out := map[int]string{}
	if len(m.Inputs) != 1 {
		return nil, fmt.Errorf("onnx: the model has %d inputs, want 1", len(m.Inputs))
	}
	out[m.Inputs[0]] = x
	done := false
	for i, l := range m.Layers {
		base := l.Base()
		if i == m.Inputs[0] {
			continue
		}
		var in []string
		for _, j := range base.Inputs() {
			s, ok := out[j]
			if !ok {
				return nil, fmt.Errorf("onnx: layer %s reads layer %d before it is converted", base.Name(), j)
			}
			in = append(in, s)
		}
		var inShape []int
		if len(base.Inputs()) > 0 {
			inShape = m.Layers[base.Inputs()[0]].Base().OutShape()
		}
		last := i == m.Output
		y, err := b.layer(l, in, inShape, last, clf.Temperature())
		if err != nil {
			return nil, err
		}
		out[i] = y
		if last {
			done = true
		}
	}
	if !done {
		return nil, fmt.Errorf("onnx: the model's output layer was not reached")
	}
	k := len(clf.Meta.Classes)
	b.g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(Output), Type: tensorType("batch", k),
		DocString: proto.String("calibrated class probabilities, in the order of metadata classes")}}
	meta, err := metadata(clf, scale, offset)
	if err != nil {
		return nil, err
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String("trashsort"),
		ProducerVersion: proto.String(classifier.FormatVersion),
		DocString:       proto.String(fmt.Sprintf("%s image classifier: %s", clf.Meta.Backbone, strings.Join(clf.Meta.Classes, ", "))),
		Graph:           b.g,
		MetadataProps:   meta,
	}, nil
}

func metadata(clf *classifier.Classifier, scale, offset []float32) ([]*onnxpb.StringStringEntryProto, error) {
	classes, err := json.Marshal(clf.Meta.Classes)
	if err != nil {
		return nil, err
	}
	resize := clf.Meta.Resize
	if resize == "" {
		resize = "bilinear"
	}
	testSizes, err := json.Marshal(clf.TestSizes())
	if err != nil {
		return nil, err
	}
	kv := [][2]string{
		{"classes", string(classes)},
		{"backbone", clf.Meta.Backbone},
		{"input", fmt.Sprintf("%s: float32 [batch, %d, %d, 3], RGB in [0, 255], resized (%s) to %dx%d; EXIF orientation applied", Input, clf.Meta.Size, clf.Meta.Size, resize, clf.Meta.Size, clf.Meta.Size)},
		{"input_size", strconv.Itoa(clf.Meta.Size)},
		{"test_sizes", string(testSizes)}, // this graph is input_size's; trashsort averages its model over these
		{"resize", resize},
		{"preprocessing", fmt.Sprintf("included: x * %v + %v per channel (%s)", scale, offset, clf.Meta.Preprocess)},
		{"output", fmt.Sprintf("%s: float32 [batch, %d], calibrated", Output, len(clf.Meta.Classes))},
		{"temperature", strconv.FormatFloat(clf.Temperature(), 'g', -1, 64)},
		{"min_confidence", strconv.FormatFloat(clf.MinConfidence(), 'g', -1, 64)},
		{"val_accuracy", strconv.FormatFloat(clf.Meta.Summary.ValAccuracy, 'f', 4, 64)},
	}
	var out []*onnxpb.StringStringEntryProto
	for _, e := range kv {
		out = append(out, &onnxpb.StringStringEntryProto{Key: proto.String(e[0]), Value: proto.String(e[1])})
	}
	return out, nil
}

func pads(in, k, s int, padding string) (int, int) {
	if padding != tensor.Same {
		return 0, 0
	}
	_, before, after := tensor.SamePad(in, k, s)
	return before, after
}

func params(l nn.Layer) map[string]*nn.Param {
	ps := map[string]*nn.Param{}
	for _, p := range l.Params() {
		ps[p.Name] = p
	}
	return ps
}

// layer converts one layer; tensors are NCHW inside the graph.
func (b *builder) layer(l nn.Layer, in []string, inShape []int, last bool, temperature float64) (string, error) {
	name := l.Base().Name()
	switch t := l.(type) {
	case *nn.Conv2D:
		ps := params(t)
		var kernel *nn.Param
		for _, p := range t.Params() {
			if strings.Contains(p.Name, "kernel") {
				kernel = p
			}
		}
		if kernel == nil {
			return "", fmt.Errorf("onnx: layer %s has no kernel", name)
		}
		kh, kw, c := t.KH, t.KW, inShape[2]
		f, group, cg := t.Filters, 1, c
		if t.Depthwise {
			f, group, cg = c, c, 1
		}
		// Keras [KH, KW, C/groups, F] (depthwise [KH, KW, C, 1]) to ONNX [F, C/groups, KH, KW].
		w := make([]float32, len(kernel.Value.Data))
		for y := 0; y < kh; y++ {
			for x := 0; x < kw; x++ {
				for ci := 0; ci < cg; ci++ {
					for fo := 0; fo < f; fo++ {
						var src int
						if t.Depthwise {
							src = (y*kw+x)*c + fo
						} else {
							src = ((y*kw+x)*cg+ci)*f + fo
						}
						w[((fo*cg+ci)*kh+y)*kw+x] = kernel.Value.Data[src]
					}
				}
			}
		}
		inputs := append(in, b.floats(name+"_kernel", []int64{int64(f), int64(cg), int64(kh), int64(kw)}, w))
		if bias, ok := ps["bias"]; ok {
			inputs = append(inputs, b.floats(name+"_bias", []int64{int64(f)}, bias.Value.Data))
		}
		pt, pb := pads(inShape[0], kh, t.SH, t.Padding)
		pl, pr := pads(inShape[1], kw, t.SW, t.Padding)
		y := b.node("Conv", name, inputs, name+"_conv", ints("kernel_shape", kh, kw), ints("strides", t.SH, t.SW),
			ints("pads", pt, pl, pb, pr), intAttr("group", group), ints("dilations", 1, 1))
		return b.activation(name, y, t.Activation)
	case *nn.BatchNormalization:
		ps := params(t)
		c := inShape[len(inShape)-1]
		get := func(n string, def float32) []float32 {
			if p, ok := ps[n]; ok {
				return p.Value.Data
			}
			v := make([]float32, c)
			for i := range v {
				v[i] = def
			}
			return v
		}
		d := []int64{int64(c)}
		return b.node("BatchNormalization", name, []string{in[0],
			b.floats(name+"_gamma", d, get("gamma", 1)), b.floats(name+"_beta", d, get("beta", 0)),
			b.floats(name+"_moving_mean", d, get("moving_mean", 0)), b.floats(name+"_moving_variance", d, get("moving_variance", 1))},
			name, floatAttr("epsilon", t.Epsilon)), nil
	case *nn.Activation:
		switch t.Kind {
		case "relu":
			return b.activation(name, in[0], tensor.ReLU)
		case "relu6":
			return b.activation(name, in[0], tensor.ReLU6)
		case "linear", "":
			return b.node("Identity", name, in, name), nil
		}
		return "", fmt.Errorf("onnx: layer %s: activation %q is not supported", name, t.Kind)
	case *nn.ZeroPadding2D:
		return b.node("Pad", name, []string{in[0], b.int64s(name+"_pads", []int64{0, 0, int64(t.Top), int64(t.Left), 0, 0, int64(t.Bottom), int64(t.Right)})}, name), nil
	case *nn.Pooling2D:
		pt, pb := pads(inShape[0], t.PH, t.SH, t.Padding)
		pl, pr := pads(inShape[1], t.PW, t.SW, t.Padding)
		attrs := []*onnxpb.AttributeProto{ints("kernel_shape", t.PH, t.PW), ints("strides", t.SH, t.SW), ints("pads", pt, pl, pb, pr)}
		if t.Kind == tensor.MaxPool {
			return b.node("MaxPool", name, in, name, attrs...), nil
		}
		return b.node("AveragePool", name, in, name, append(attrs, intAttr("count_include_pad", 0))...), nil
	case *nn.Add:
		y := in[0]
		for k, z := range in[1:] {
			out := name
			if k < len(in)-2 {
				out = fmt.Sprintf("%s_%d", name, k)
			}
			y = b.node("Add", name, []string{y, z}, out)
		}
		return y, nil
	case *nn.Concatenate:
		return b.node("Concat", name, in, name, intAttr("axis", 1)), nil
	case *nn.GlobalAveragePooling2D:
		y := b.node("GlobalAveragePool", name, in, name+"_pool")
		return b.node("Flatten", name+"_flatten", []string{y}, name, intAttr("axis", 1)), nil
	case *nn.GlobalMaxPooling2D:
		y := b.node("GlobalMaxPool", name, in, name+"_pool")
		return b.node("Flatten", name+"_flatten", []string{y}, name, intAttr("axis", 1)), nil
	case *nn.Dropout:
		return b.node("Identity", name, in, name), nil
	case *nn.Dense:
		ps := params(t)
		kernel, ok := ps["kernel"]
		if !ok {
			return "", fmt.Errorf("onnx: layer %s has no kernel", name)
		}
		inputs := append(in, b.floats(name+"_kernel", []int64{int64(kernel.Value.Shape[0]), int64(kernel.Value.Shape[1])}, kernel.Value.Data))
		if bias, ok := ps["bias"]; ok {
			inputs = append(inputs, b.floats(name+"_bias", []int64{int64(t.Units)}, bias.Value.Data))
		}
		y := b.node("Gemm", name, inputs, name+"_logits")
		switch t.Activation {
		case "softmax":
			if temperature != 1 {
				y = b.node("Div", name+"_temperature", []string{y, b.floats("temperature", nil, []float32{float32(temperature)})}, name+"_scaled_logits")
			}
			out := name
			if last {
				out = Output
			}
			return b.node("Softmax", name+"_softmax", []string{y}, out, intAttr("axis", -1)), nil
		case "relu":
			return b.activation(name, y, tensor.ReLU)
		case "linear", "":
			return b.node("Identity", name, []string{y}, name), nil
		}
		return "", fmt.Errorf("onnx: layer %s: activation %q is not supported", name, t.Activation)
	}
	return "", fmt.Errorf("onnx: layer %s (%s) has no ONNX conversion", name, l.Base().Class())
}

func (b *builder) activation(name, x string, kind int) (string, error) {
	switch kind {
	case tensor.Linear:
		return b.node("Identity", name+"_linear", []string{x}, name), nil
	case tensor.ReLU:
		return b.node("Relu", name+"_relu", []string{x}, name), nil
	case tensor.ReLU6:
		return b.node("Clip", name+"_relu6", []string{x, b.floats(name+"_min", nil, []float32{0}), b.floats(name+"_max", nil, []float32{6})}, name), nil
	}
	return "", fmt.Errorf("onnx: layer %s: activation %d is not supported", name, kind)
}

// Write writes clf as an ONNX file atomically.
func Write(path string, clf *classifier.Classifier) error {
	m, err := Model(clf)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("onnx: encoding %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
