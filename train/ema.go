package train

import (
	"trashsort/nn"
)

// ema keeps an exponential moving average of a set of weights (timm's
// ModelEmaV2, tf.keras' use_ema): after every step
// shadow = d*shadow + (1-d)*w, with the decay warmed up as
// d = min(decay, (1+t)/(10+t)) so that early, random-ish weights fade fast.
// BatchNorm's moving statistics are averaged too. Validation and the saved
// model use the averaged weights.
type ema struct {
	decay  float64
	steps  int64
	params []*nn.Param
	shadow [][]float32
}

// newEMA starts an average of params at their current values.
func newEMA(decay float64, params []*nn.Param) *ema {
	e := &ema{decay: decay, params: params, shadow: make([][]float32, len(params))}
	for i, p := range params {
		e.shadow[i] = append([]float32(nil), p.Value.Data...)
	}
	return e
}

// rate is the decay used for the next update.
func (e *ema) rate() float64 {
	t := float64(e.steps)
	return min(e.decay, (1+t)/(10+t))
}

// update folds the current weights into the average.
func (e *ema) update() {
	d := float32(e.rate())
	e.steps++
	for i, p := range e.params {
		s, w := e.shadow[i], p.Value.Data
		for j := range s {
			s[j] = d*s[j] + (1-d)*w[j]
		}
	}
}

// swap exchanges the live weights and the averaged ones; calling it twice
// restores the live weights exactly.
func (e *ema) swap() {
	for i, p := range e.params {
		s, w := e.shadow[i], p.Value.Data
		for j := range s {
			s[j], w[j] = w[j], s[j]
		}
		p.Touch()
	}
}

// emaParams lists every weight of the layers from index from on, trainable
// or not (BatchNorm's moving statistics included).
func emaParams(m *nn.Model, from int) []*nn.Param {
	var ps []*nn.Param
	for _, l := range m.Layers[from:] {
		ps = append(ps, l.Params()...)
	}
	return ps
}
