// Package explain shows where a classifier looks: Grad-CAM (Selvaraju et
// al. 2017) heat maps on the backbone's last convolutional block, and
// overlays of them on the photo.
package explain

import (
	"fmt"

	"trashsort/classifier"
	"trashsort/models"
	"trashsort/nn"
	"trashsort/tensor"
)

// lastConvBlock is the backbone's last convolutional block, the layer
// whose output feeds the head's global average pooling (from the registry).
func lastConvBlock(backbone string) (string, error) {
	spec, err := models.Get(backbone)
	if err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	return spec.LastConvLayer, nil
}

// HeatMap is one image's class-activation map on the block's grid, scaled
// to [0, 1] (all zero when nothing speaks for the class).
type HeatMap struct {
	W, H int
	V    []float32 // row-major, H rows of W values
	// Class is the class index explained, Probability its calibrated probability.
	Class       int
	Probability float32
}

// At is the value at grid cell (x, y).
func (h *HeatMap) At(x, y int) float32 { return h.V[y*h.W+x] }

// dense returns a Dense layer's kernel [in, units] and bias.
func dense(m *nn.Model, name string) (*nn.Dense, []float32, []float32, error) {
	l, ok := m.Layer(name)
	if !ok {
		return nil, nil, nil, fmt.Errorf("explain: the model has no layer %q", name)
	}
	d, ok := l.(*nn.Dense)
	if !ok {
		return nil, nil, nil, fmt.Errorf("explain: layer %q is a %s, not Dense", name, l.Base().Class())
	}
	var k, b []float32
	for _, p := range d.Params() {
		switch p.Name {
		case "kernel":
			k = p.Value.Data
		case "bias":
			b = p.Value.Data
		}
	}
	return d, k, b, nil
}

// GradCAM computes heat maps for raw images x [N, Size, Size, 3] in
// [0, 255]. class is the class to explain, or -1 for each image's top
// class. The gradient of the class logit with respect to the block's
// output is exact for the classifier's head (GlobalAveragePooling2D,
// Dense ReLU, Dense): d z_c / d A[i, j, k] = (1/HW) sum_u W1[k, u] [h_u > 0] W2[u, c].
func GradCAM(clf *classifier.Classifier, x *tensor.Tensor, class int) ([]HeatMap, error) {
	m := clf.Model
	k := len(clf.Meta.Classes)
	if class >= k {
		return nil, fmt.Errorf("explain: class %d outside [0, %d)", class, k)
	}
	name, err := lastConvBlock(clf.Meta.Backbone)
	if err != nil {
		return nil, err
	}
	block := m.Index(name)
	if block < 0 || block != clf.BaseEnd {
		return nil, fmt.Errorf("explain: layer %q is not the backbone's last layer", name)
	}
	d1, w1, b1, err := dense(m, "dense")
	if err != nil {
		return nil, err
	}
	d2, w2, _, err := dense(m, "dense_1")
	if err != nil {
		return nil, err
	}
	if d1.Activation != "relu" {
		return nil, fmt.Errorf("explain: the head's first Dense has activation %q, want relu", d1.Activation)
	}
	units := d1.Units
	in := x.Clone()
	clf.Preprocess(in.Data)
	outs, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: in}, []int{block, m.Output}, false)
	if err != nil {
		return nil, err
	}
	a, probs := outs[0], outs[1]
	clf.Calibrate(probs.Data)
	n, h, w, c := a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3]
	if len(w1) != c*units || len(w2) != units*d2.Units || d2.Units != k {
		return nil, fmt.Errorf("explain: head shapes do not match the block's %d channels", c)
	}
	maps := make([]HeatMap, n)
	g := make([]float32, c)
	alpha := make([]float32, c)
	for i := 0; i < n; i++ {
		ai := a.Data[i*h*w*c : (i+1)*h*w*c]
		cls := class
		if cls < 0 {
			cls = tensor.Argmax(probs.Data[i*k : (i+1)*k])
		}
		// g = GAP(A); hidden pre-activations decide which units pass the gradient.
		clear(g)
		for p := 0; p < h*w; p++ {
			for ch := 0; ch < c; ch++ {
				g[ch] += ai[p*c+ch]
			}
		}
		for ch := range g {
			g[ch] /= float32(h * w)
		}
		clear(alpha)
		for u := 0; u < units; u++ {
			pre := b1[u]
			for ch := 0; ch < c; ch++ {
				pre += g[ch] * w1[ch*units+u]
			}
			if pre <= 0 {
				continue
			}
			wc := w2[u*k+cls]
			for ch := 0; ch < c; ch++ {
				alpha[ch] += w1[ch*units+u] * wc
			}
		}
		hm := HeatMap{W: w, H: h, V: make([]float32, h*w), Class: cls, Probability: probs.Data[i*k+cls]}
		var top float32
		for p := 0; p < h*w; p++ {
			var s float32
			for ch := 0; ch < c; ch++ {
				s += alpha[ch] * ai[p*c+ch]
			}
			hm.V[p] = max(s, 0)
			top = max(top, hm.V[p])
		}
		if top > 0 {
			for p := range hm.V {
				hm.V[p] /= top
			}
		}
		maps[i] = hm
	}
	return maps, nil
}
