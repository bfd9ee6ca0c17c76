package nn

import (
	"fmt"
	"math"
)

// Optimizer updates weights from their accumulated gradients with Keras'
// update rules.
type Optimizer interface {
	// Step applies one update to each parameter from its Grad.
	Step(params []*Param)
	// LearningRate and SetLearningRate read and change the step size (for schedules).
	LearningRate() float64
	SetLearningRate(lr float64)
	// Name is Keras' class name.
	Name() string
	// Slots returns the optimizer's state for p (created if absent), for checkpoints.
	Slots(p *Param) [][]float32
	// Iterations counts the steps taken; SetIterations restores it.
	Iterations() int64
	SetIterations(n int64)
}

type slots struct {
	m     map[*Param][][]float32
	iters int64
	n     int // slots per parameter
}

func (s *slots) get(p *Param) [][]float32 {
	if s.m == nil {
		s.m = map[*Param][][]float32{}
	}
	v, ok := s.m[p]
	if !ok {
		v = make([][]float32, s.n)
		for i := range v {
			v[i] = make([]float32, p.Value.Len())
		}
		s.m[p] = v
	}
	return v
}

func (s *slots) Slots(p *Param) [][]float32 { return s.get(p) }
func (s *slots) Iterations() int64          { return s.iters }
func (s *slots) SetIterations(n int64)      { s.iters = n }

// RMSprop is tf.keras' RMSprop (no momentum, not centered):
// ms = rho*ms + (1-rho)*g^2; w -= lr*g/sqrt(ms+eps).
type RMSprop struct {
	LR, Rho, Epsilon float64
	slots
}

// NewRMSprop returns RMSprop with Keras' defaults (lr 1e-3, rho 0.9, epsilon 1e-7).
func NewRMSprop(lr float64) *RMSprop {
	return &RMSprop{LR: lr, Rho: 0.9, Epsilon: 1e-7, slots: slots{n: 1}}
}

// Name is "RMSprop".
func (o *RMSprop) Name() string { return "RMSprop" }

// LearningRate returns the step size.
func (o *RMSprop) LearningRate() float64 { return o.LR }

// SetLearningRate changes the step size.
func (o *RMSprop) SetLearningRate(lr float64) { o.LR = lr }

// Step applies one update.
func (o *RMSprop) Step(params []*Param) {
	o.iters++
	rho, lr, eps := float32(o.Rho), float32(o.LR), float32(o.Epsilon)
	for _, p := range params {
		rmspropUpdate(p.Value.Data, p.Grad.Data, o.get(p)[0], rho, lr, eps)
		p.Touch()
	}
}

// SGD is Keras' SGD with momentum: v = m*v - lr*g; w += v, or with
// Nesterov w += m*v - lr*g.
type SGD struct {
	LR, Momentum float64
	Nesterov     bool
	slots
}

// NewSGD returns SGD with the given learning rate and momentum.
func NewSGD(lr, momentum float64, nesterov bool) *SGD {
	return &SGD{LR: lr, Momentum: momentum, Nesterov: nesterov, slots: slots{n: 1}}
}

// Name is "SGD".
func (o *SGD) Name() string { return "SGD" }

// LearningRate returns the step size.
func (o *SGD) LearningRate() float64 { return o.LR }

// SetLearningRate changes the step size.
func (o *SGD) SetLearningRate(lr float64) { o.LR = lr }

// Step applies one update.
func (o *SGD) Step(params []*Param) {
	o.iters++
	m, lr := float32(o.Momentum), float32(o.LR)
	for _, p := range params {
		sgdUpdate(p.Value.Data, p.Grad.Data, o.get(p)[0], m, lr, o.Nesterov)
		p.Touch()
	}
}

// Adam is Keras' Adam: m += (1-b1)(g-m); v += (1-b2)(g^2-v);
// w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps).
type Adam struct {
	LR, Beta1, Beta2, Epsilon float64
	slots
}

// NewAdam returns Adam with Keras' defaults (beta1 0.9, beta2 0.999, epsilon 1e-7).
func NewAdam(lr float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7, slots: slots{n: 2}}
}

// Name is "Adam".
func (o *Adam) Name() string { return "Adam" }

// LearningRate returns the step size.
func (o *Adam) LearningRate() float64 { return o.LR }

// SetLearningRate changes the step size.
func (o *Adam) SetLearningRate(lr float64) { o.LR = lr }

// Step applies one update.
func (o *Adam) Step(params []*Param) {
	o.iters++
	t := float64(o.iters)
	alpha := float32(o.LR * math.Sqrt(1-math.Pow(o.Beta2, t)) / (1 - math.Pow(o.Beta1, t)))
	b1, b2, eps := float32(o.Beta1), float32(o.Beta2), float32(o.Epsilon)
	for _, p := range params {
		s := o.get(p)
		adamUpdate(p.Value.Data, p.Grad.Data, s[0], s[1], b1, b2, alpha, eps)
		p.Touch()
	}
}

// NewOptimizer returns an optimizer by Keras name: "rmsprop", "sgd" (momentum
// 0.9) or "adam".
func NewOptimizer(name string, lr float64) (Optimizer, error) {
	switch name {
	case "rmsprop", "RMSprop":
		return NewRMSprop(lr), nil
	case "sgd", "SGD":
		return NewSGD(lr, 0.9, false), nil
	case "adam", "Adam":
		return NewAdam(lr), nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (want rmsprop, sgd or adam)", name)
}

// The update loops below work on slices cut to the weights' length, so that
// the compiler drops the bounds checks, with every constant (and the
// Nesterov choice) held in a local: a step over InceptionV3's top blocks
// (13M weights) takes half the time of a loop that checks and branches on
// every element. The arithmetic is unchanged.

// rmspropUpdate applies ms = rho*ms + (1-rho)*g^2; w -= lr*g/sqrt(ms+eps).
func rmspropUpdate(w, g, ms []float32, rho, lr, eps float32) {
	g, ms = g[:len(w)], ms[:len(w)]
	for i := range w {
		gi := g[i]
		m := rho*ms[i] + (1-rho)*gi*gi
		ms[i] = m
		w[i] -= lr * gi / float32(math.Sqrt(float64(m+eps)))
	}
}

// sgdUpdate applies v = m*v - lr*g; w += v, or with Nesterov w += m*v - lr*g.
func sgdUpdate(w, g, v []float32, m, lr float32, nesterov bool) {
	g, v = g[:len(w)], v[:len(w)]
	if nesterov {
		for i := range w {
			vi := m*v[i] - lr*g[i]
			v[i] = vi
			w[i] += m*vi - lr*g[i]
		}
		return
	}
	for i := range w {
		vi := m*v[i] - lr*g[i]
		v[i] = vi
		w[i] += vi
	}
}

// adamUpdate applies m += (1-b1)(g-m); v += (1-b2)(g^2-v); w -= alpha*m/(sqrt(v)+eps).
func adamUpdate(w, g, m, v []float32, b1, b2, alpha, eps float32) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for i := range w {
		gi := g[i]
		mi := m[i] + (1-b1)*(gi-m[i])
		vi := v[i] + (1-b2)*(gi*gi-v[i])
		m[i], v[i] = mi, vi
		w[i] -= alpha * mi / (float32(math.Sqrt(float64(vi))) + eps)
	}
}
