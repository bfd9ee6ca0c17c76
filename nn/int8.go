package nn

import (
	"fmt"
	"math"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// Int8Range is the calibrated input range of one convolution: its largest
// magnitude and whether it was ever negative.
type Int8Range = dnnl.Int8Range

// Int8 inference: a frozen, fused Conv2D -> BatchNormalization [-> ReLU]
// chain runs as one oneDNN int8 convolution (input quantized to u8, or s8
// where it can be negative, with the calibrated scale; weights per output
// channel; float32 output) once calibration has seen its input. Layers
// without a calibrated range, and CPUs without VNNI, stay in float32.

// CalibrateInt8 runs x through the model in inference mode and widens the
// recorded input range of every fused convolution it meets. Call it on a
// few hundred representative images (training images, preprocessed), in
// batches, before setting Int8.
func (m *Model) CalibrateInt8(x *tensor.Tensor) error {
	m.mu.Lock()
	if m.int8 == nil {
		m.int8 = map[string]Int8Range{}
	}
	m.calibrating = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.calibrating = false
		m.mu.Unlock()
	}()
	_, err := m.Forward(x, false)
	return err
}

// Int8Ranges returns the calibrated input ranges by convolution layer name
// (nil before calibration), to be stored with the model.
func (m *Model) Int8Ranges() map[string]Int8Range {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.int8 == nil {
		return nil
	}
	out := make(map[string]Int8Range, len(m.int8))
	for k, v := range m.int8 {
		out[k] = v
	}
	return out
}

// SetInt8Ranges installs stored calibration ranges; every name must be a
// Conv2D layer of the model.
func (m *Model) SetInt8Ranges(r map[string]Int8Range) error {
	for name, v := range r {
		l, ok := m.Layer(name)
		if _, conv := l.(*Conv2D); !ok || !conv {
			return fmt.Errorf("int8 range for %q: no such convolution in the model", name)
		}
		if !(v.Max > 0) || math.IsInf(float64(v.Max), 0) {
			return fmt.Errorf("int8 range for %q: bad maximum %v", name, v.Max)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.int8 = make(map[string]Int8Range, len(r))
	for k, v := range r {
		m.int8[k] = v
	}
	return nil
}

// record widens the named convolution's input range to cover x, then
// measures the int8 convolution's relative error against y, its float32
// output, and keeps the largest seen.
func (m *Model) record(name string, g tensor.ConvGeom, cw *dnnl.ConvWeights, x, y []float32, act dnnl.Activation) error {
	r := m.int8[name]
	for _, v := range x {
		if v < 0 {
			r.Signed = true
		}
		r.Max = max(r.Max, float32(math.Abs(float64(v))))
	}
	q := m.buffers.get(len(y))
	defer m.buffers.drop(q)
	probe := r
	probe.Err = 0
	if err := cw.ForwardInt8(g, x, q.Data, act, probe); err != nil {
		return err
	}
	r.Err = max(r.Err, float32(tensor.RelErr(q.Data, y)))
	m.int8[name] = r
	return nil
}

// int8MaxErr is the largest calibration error of a layer run in int8.
func (m *Model) int8MaxErr() float32 {
	if m.Int8MaxErr > 0 {
		return m.Int8MaxErr
	}
	return DefaultInt8MaxErr
}

// DefaultInt8MaxErr is the default Model.Int8MaxErr.
const DefaultInt8MaxErr = 0.01
