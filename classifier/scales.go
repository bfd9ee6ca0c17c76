package classifier

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"trashsort/models"
	"trashsort/nn"
	"trashsort/tensor"
)

// MaxTestSizes bounds Meta.TestSizes.
const MaxTestSizes = 8

// Views are raw image batches [N, s, s, 3] with values in [0, 255], the
// same N images at each size s, keyed by s.
type Views map[int]*tensor.Tensor

// at returns the batch at size s: the view of that size when there is one,
// else the largest view resized bilinearly (resizing a resized image
// loses detail, so callers that can decode at every size of InputSizes
// should).
func (v Views) at(s int) *tensor.Tensor {
	if x, ok := v[s]; ok {
		return x
	}
	var from *tensor.Tensor
	for _, x := range v {
		if from == nil || x.Shape[1]*x.Shape[2] > from.Shape[1]*from.Shape[2] {
			from = x
		}
	}
	return resizeBatch(from, s, s)
}

// TestSizes returns the input sizes at which this model's predictions are
// averaged: Meta.TestSizes, or Size alone.
func (c *Classifier) TestSizes() []int {
	if len(c.Meta.TestSizes) == 0 {
		return []int{c.Meta.Size}
	}
	return c.Meta.TestSizes
}

// InputSizes lists every size at which the classifier reads images: the
// lead's Size first (explanations and loaders use it), then the other test
// sizes of every model of an ensemble in increasing order. Views with all
// of them avoid resizing.
func (c *Classifier) InputSizes() []int {
	var others []int
	c.each(func(m *Classifier) error {
		for _, s := range m.TestSizes() {
			if s != c.Meta.Size && !slices.Contains(others, s) {
				others = append(others, s)
			}
		}
		return nil
	})
	slices.Sort(others)
	return append([]int{c.Meta.Size}, others...)
}

// SetTestSizes replaces the test sizes of the model, or of every member of
// an ensemble (empty: each model's Size alone).
func (c *Classifier) SetTestSizes(sizes []int) error {
	if err := validTestSizes(sizes); err != nil {
		return err
	}
	return c.each(func(m *Classifier) error {
		m.Meta.TestSizes = slices.Clone(sizes)
		return nil
	})
}

// validTestSizes checks Meta.TestSizes.
func validTestSizes(sizes []int) error {
	if len(sizes) > MaxTestSizes {
		return fmt.Errorf("classifier: %d test sizes, more than %d", len(sizes), MaxTestSizes)
	}
	for i, s := range sizes {
		if s < 1 || s > MaxInputSize {
			return fmt.Errorf("classifier: test size %d outside 1..%d", s, MaxInputSize)
		}
		if slices.Contains(sizes[:i], s) {
			return fmt.Errorf("classifier: test size %d appears twice", s)
		}
	}
	return nil
}

// scaledModels holds a model rebuilt at other input sizes with a copy of
// the weights, refreshed when the original's weights change.
type scaledModels struct {
	mu     sync.Mutex
	bySize map[int]*scaledModel
}

type scaledModel struct {
	m       *nn.Model
	version int
}

// modelAt returns the model for input size s: c.Model at Meta.Size, else
// a rebuilt copy with the same weights and inference settings.
func (c *Classifier) modelAt(s int) (*nn.Model, error) {
	if s == c.Meta.Size {
		return c.Model, nil
	}
	c.scaled.mu.Lock()
	defer c.scaled.mu.Unlock()
	sm := c.scaled.bySize[s]
	if sm == nil {
		spec, err := models.Get(c.Meta.Backbone)
		if err != nil {
			return nil, err
		}
		m, err := build(spec, c.Meta, s)
		if err != nil {
			return nil, fmt.Errorf("classifier: test size %d: %w", s, err)
		}
		sm = &scaledModel{m: m, version: -1}
		if c.scaled.bySize == nil {
			c.scaled.bySize = map[int]*scaledModel{}
		}
		c.scaled.bySize[s] = sm
	}
	if v := c.Model.WeightsVersion(); v != sm.version {
		if err := SetTensors(sm.m, Tensors(c.Model), fmt.Sprintf("test size %d", s)); err != nil {
			return nil, err
		}
		sm.version = v
	}
	sm.m.BF16, sm.m.Int8, sm.m.Int8MaxErr = c.Model.BF16, c.Model.Int8, c.Model.Int8MaxErr
	if c.Model.Int8 {
		if err := sm.m.SetInt8Ranges(c.Model.Int8Ranges()); err != nil {
			return nil, err
		}
	}
	return sm.m, nil
}

// predictSizes is this model's own prediction: at each test size, the
// probabilities from the view of that size; with several sizes, their
// geometric mean renormalized (the softmax of the mean logits, which a
// temperature scales like one size's).
func (c *Classifier) predictSizes(v Views) (*tensor.Tensor, error) {
	sizes := c.TestSizes()
	var sum []float64
	var out *tensor.Tensor
	for _, s := range sizes {
		m, err := c.modelAt(s)
		if err != nil {
			return nil, err
		}
		in := v.at(s).Clone()
		c.Preprocess(in.Data)
		p, err := m.Forward(in, false)
		if err != nil {
			return nil, err
		}
		if len(sizes) == 1 {
			return p, nil
		}
		if sum == nil {
			sum, out = make([]float64, len(p.Data)), p
		}
		for i, q := range p.Data {
			sum[i] += math.Log(max(float64(q), 1e-30))
		}
	}
	k := len(c.Meta.Classes)
	for r := 0; r < len(sum)/k; r++ {
		row := sum[r*k : (r+1)*k]
		hi := slices.Max(row)
		z := 0.0
		for j, l := range row {
			row[j] = math.Exp((l - hi) / float64(len(sizes)))
			z += row[j]
		}
		for j := range row {
			out.Data[r*k+j] = float32(row[j] / z)
		}
	}
	return out, nil
}
