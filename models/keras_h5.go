package models

import (
	"fmt"
	"strings"

	"trashsort/h5"
	"trashsort/nn"
	"trashsort/tensor"
)

// LoadKerasWeights loads a Keras .h5 weight file (from save_weights, or the
// model_weights group of a full model.save file) into m by layer name. Every
// layer of m with weights must be in the file with the right shapes, and the
// file may not hold weights for layers m lacks; errors name the layer, the
// weight and the shapes.
func LoadKerasWeights(m *nn.Model, path string) error {
	return loadKeras(m, path, len(m.Layers)-1)
}

// LoadKerasBase loads a backbone's weight file into a model that extends the
// backbone (a transfer model with a new head): every layer in the file must
// be in the model, every layer up to index baseEnd must be in the file, and
// the layers after it keep their weights.
func LoadKerasBase(m *nn.Model, path string, baseEnd int) error {
	return loadKeras(m, path, baseEnd)
}

func loadKeras(m *nn.Model, path string, upTo int) error {
	f, err := h5.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	root := "/"
	if !hasAttr(f, "/", "layer_names") && f.Exists("model_weights") {
		root = "model_weights"
	}
	names, err := f.Strings(root, "layer_names")
	if err != nil {
		return fmt.Errorf("%s: not a Keras weight file: %w", path, err)
	}
	inFile := map[string]bool{}
	for _, name := range names {
		inFile[name] = true
		wn, err := f.Strings(join(root, name), "weight_names")
		if err != nil {
			return fmt.Errorf("%s: layer %q: %w", path, name, err)
		}
		l, ok := m.Layer(name)
		if !ok {
			if len(wn) == 0 {
				continue // weightless layers (inputs, activations) may differ
			}
			return fmt.Errorf("%s: the file has weights for layer %q, which the model lacks", path, name)
		}
		params := l.Params()
		if len(wn) != len(params) {
			return fmt.Errorf("%s: layer %q: the file has %d weights %v, the model expects %d", path, name, len(wn), wn, len(params))
		}
		for i, w := range wn {
			p := params[i]
			base := w[strings.LastIndex(w, "/")+1:]
			base = strings.TrimSuffix(base, ":0")
			if base != p.Name {
				return fmt.Errorf("%s: layer %q: weight %d is %q in the file, the model expects %q", path, name, i, w, p.Name)
			}
			// The shape is checked before anything is read.
			shape, err := f.Shape(join(root, name, w))
			if err != nil {
				return fmt.Errorf("layer %q: %w", name, err)
			}
			if !tensor.SameShape(shape, p.Value.Shape) {
				return fmt.Errorf("%s: layer %q weight %q: expected shape %v, found %v", path, name, p.Name, p.Value.Shape, shape)
			}
			if err := f.ReadFloat32(join(root, name, w), p.Value.Data); err != nil {
				return fmt.Errorf("layer %q: %w", name, err)
			}
			p.Touch()
		}
	}
	for _, l := range m.Layers[:upTo+1] {
		if len(l.Params()) > 0 && !inFile[l.Base().Name()] {
			return fmt.Errorf("%s: no weights for layer %q (%s)", path, l.Base().Name(), l.Base().Class())
		}
	}
	return nil
}

func hasAttr(f *h5.File, obj, name string) bool {
	_, err := f.Strings(obj, name)
	return err == nil
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
