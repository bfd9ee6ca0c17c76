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
	return m.calibrate(x, widenRanges)
}

// TuneInt8 chooses, after CalibrateInt8 has seen the calibration images,
// how much of each convolution's recorded input range the 8-bit steps
// cover (Int8Range.Clip, the fraction of clipRatios whose int8 output is
// closest to float32 on x) and records that error. Call it once on a
// representative batch (preprocessed).
func (m *Model) TuneInt8(x *tensor.Tensor) error {
	m.mu.Lock()
	empty := len(m.int8) == 0
	m.mu.Unlock()
	if empty {
		return fmt.Errorf("int8 tuning: no calibrated ranges (run CalibrateInt8 first)")
	}
	return m.calibrate(x, tuneClips)
}

// calibration is what a forward pass records about int8 convolutions.
type calibration int

const (
	notCalibrating calibration = iota
	widenRanges                // widen input ranges, measure the error at the full range
	tuneClips                  // keep ranges, choose the clip with the least error
)

// clipRatios are the fractions of the largest recorded input magnitude
// tried by TuneInt8 (TensorRT's and PyTorch's histogram calibrators search
// a clipping threshold the same way, by the error it causes).
var clipRatios = []float32{1, 0.8, 0.65, 0.5, 0.4, 0.3, 0.2}

func (m *Model) calibrate(x *tensor.Tensor, mode calibration) error {
	m.mu.Lock()
	if m.int8 == nil {
		m.int8 = map[string]Int8Range{}
	}
	m.calibrating = mode
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.calibrating = notCalibrating
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
		if !(v.Clip >= 0 && v.Clip <= 1) {
			return fmt.Errorf("int8 range for %q: clip %v outside [0, 1]", name, v.Clip)
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
	if m.calibrating == tuneClips {
		return m.tune(name, r, g, cw, x, y, act)
	}
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

// tune sets the named convolution's clip to the ratio whose int8 output is
// closest to y, its float32 output for x, and its error to that distance.
func (m *Model) tune(name string, r Int8Range, g tensor.ConvGeom, cw *dnnl.ConvWeights, x, y []float32, act dnnl.Activation) error {
	if !(r.Max > 0) {
		return nil // never saw this layer in CalibrateInt8
	}
	q := m.buffers.get(len(y))
	defer m.buffers.drop(q)
	best, bestErr := float32(1), float32(math.Inf(1))
	for _, c := range clipRatios {
		probe := r
		probe.Err, probe.Clip = 0, c
		if err := cw.ForwardInt8(g, x, q.Data, act, probe); err != nil {
			return err
		}
		if e := float32(tensor.RelErr(q.Data, y)); e < bestErr {
			best, bestErr = c, e
		}
	}
	r.Clip, r.Err = best, bestErr
	if best == 1 {
		r.Clip = 0
	}
	m.int8[name] = r
	return nil
}

// Int8Layers counts the convolutions that calibration has seen and, of
// those, the ones that run in int8 under the current Int8MaxErr.
func (m *Model) Int8Layers() (int8, calibrated int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.int8 {
		if r.Max > 0 {
			calibrated++
			if r.Err <= m.int8MaxErr() {
				int8++
			}
		}
	}
	return int8, calibrated
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
