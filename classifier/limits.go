package classifier

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"unicode"

	"trashsort/nn"
	"trashsort/safetensors"
	"trashsort/tensor"
)

// Tensor is one named float32 weight, as stored in the model file.
type Tensor = safetensors.Tensor

// Bounds on a model's metadata, checked before the model is built so that a
// crafted file cannot make Load allocate without limit.
const (
	MaxInputSize = 1024
	MaxHeadUnits = 16384
	MaxClasses   = 10000
	// maxAdaptations bounds the adaptation history a file may record.
	maxAdaptations = 100
	maxClassName   = 256
)

// validate checks meta once its defaults are filled in.
func (meta Meta) validate() error {
	if meta.Size < 1 || meta.Size > MaxInputSize {
		return fmt.Errorf("classifier: input size %d outside 1..%d", meta.Size, MaxInputSize)
	}
	if err := validTestSizes(meta.TestSizes); err != nil {
		return err
	}
	if meta.Head.Units < 1 || meta.Head.Units > MaxHeadUnits {
		return fmt.Errorf("classifier: head units %d outside 1..%d", meta.Head.Units, MaxHeadUnits)
	}
	if d := meta.Head.Dropout; !(d >= 0 && d < 1) {
		return fmt.Errorf("classifier: dropout %g outside [0, 1)", d)
	}
	if len(meta.Adapted) > maxAdaptations {
		return fmt.Errorf("classifier: %d adaptations recorded, more than %d", len(meta.Adapted), maxAdaptations)
	}
	if len(meta.Classes) > MaxClasses {
		return fmt.Errorf("classifier: %d classes, more than %d", len(meta.Classes), MaxClasses)
	}
	seen := map[string]bool{}
	for _, c := range meta.Classes {
		if c == "" || len(c) > maxClassName {
			return fmt.Errorf("classifier: class name %.40q is empty or longer than %d bytes", c, maxClassName)
		}
		if !safeClassName(c) {
			return fmt.Errorf("classifier: class name %.40q is not a single safe folder name (no separators, no control characters, not . or ..): corrections are stored in a folder per class", c)
		}
		if seen[c] {
			return fmt.Errorf("classifier: class %q appears twice", c)
		}
		seen[c] = true
	}
	if a := meta.Alpha; math.IsNaN(a) || a < 0 || a > 2 {
		return fmt.Errorf("classifier: width multiplier %g outside [0, 2]", a)
	}
	if err := checkPreprocess(meta); err != nil {
		return err
	}
	switch meta.Resize {
	case "", "bilinear", "nearest":
	default:
		return fmt.Errorf("classifier: unknown resize filter %q (want bilinear or nearest)", meta.Resize)
	}
	return nil
}

// checkHead compares the head's weights in f with meta before the model is
// built: a crafted file whose metadata asks for a wide head and many
// classes is refused without allocating them (the file must hold those
// weights, and the reader has checked that they lie within it).
func checkHead(meta Meta, f *safetensors.File, source string) error {
	for _, w := range []struct {
		name string
		cols int
	}{{"dense/kernel", meta.Head.Units}, {"dense_1/kernel", len(meta.Classes)}} {
		e, ok := f.Entries[w.name]
		if !ok {
			return fmt.Errorf("%s: no weight %q", source, w.name)
		}
		if len(e.Shape) != 2 || e.Shape[1] != w.cols || (w.name == "dense_1/kernel" && e.Shape[0] != meta.Head.Units) {
			return fmt.Errorf("%s: weight %q has shape %v, which does not match the metadata's head (%d units, %d classes)", source, w.name, e.Shape, meta.Head.Units, len(meta.Classes))
		}
	}
	return nil
}

// loadWeights checks every weight of m against the file's header (names
// and shapes, nothing missing, nothing extra) and only then reads the data
// straight into the model's buffers.
func loadWeights(m *nn.Model, f *safetensors.File, source string, extra []string) error {
	type want struct {
		name string
		p    *nn.Param
	}
	var ws []want
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			name := l.Base().Name() + "/" + p.Name
			e, ok := f.Entries[name]
			if !ok {
				return fmt.Errorf("%s: no weight %q", source, name)
			}
			if !tensor.SameShape(e.Shape, p.Value.Shape) {
				return fmt.Errorf("%s: weight %q: expected shape %v, found %v", source, name, p.Value.Shape, e.Shape)
			}
			ws = append(ws, want{name, p})
		}
	}
	// The tensors the metadata names beside the weights (the open-set
	// detector's, the source feature statistics) are checked by their
	// own loaders.
	present := 0
	for _, name := range extra {
		if _, ok := f.Entries[name]; ok {
			present++
		}
	}
	if len(ws)+present != len(f.Entries) {
		return fmt.Errorf("%s: holds %d weights, the model has %d", source, len(f.Entries), len(ws))
	}
	for _, w := range ws {
		if err := f.ReadInto(w.name, w.p.Value.Data); err != nil {
			return err
		}
		w.p.Touch()
	}
	return nil
}

// safeClassName reports whether a class name can name a folder of its own
// inside another (the service stores corrections in one per class): one
// local path element, without separators or control characters.
func safeClassName(c string) bool {
	if !filepath.IsLocal(c) || c == "." || strings.ContainsAny(c, `/\`) {
		return false
	}
	for _, r := range c {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
