// Package bench measures the recipe's work the way the PyTorch peer
// benchmark does (forward, stage one and stage two steps on random data), so
// the two can be compared in one run.
package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"trashsort/classifier"
	"trashsort/models"
	"trashsort/nn"
	"trashsort/tensor"
)

// Result is one measurement, in the peer's JSON schema.
type Result struct {
	Peer       string  `json:"peer"`
	Mode       string  `json:"mode"`
	Size       int     `json:"size"`
	Batch      int     `json:"batch"`
	ImgPerS    float64 `json:"img_per_s"`
	GFLOPPerS  float64 `json:"gflop_per_s"`
	Iterations int     `json:"iters"`
	// Int8Layers is, for forward-int8, "k/n": k of the n calibrated
	// convolutions run in int8 (the others exceeded the error bound).
	Int8Layers string `json:"int8_layers,omitempty"`
}

// Modes lists the measurements, named as the peer names them: forward
// (frozen backbone inference, float32 and bfloat16), stage1 (frozen
// backbone + head training step), stage2 (top blocks and head trained, full
// forward) and stage2-cached (the same step fed with cached boundary
// activations, as --cache-features trains). Any stage mode also runs in
// bfloat16 under the suffix -bf16 (stage1-bf16, stage2-bf16,
// stage2-cached-bf16): frozen layers in bfloat16, as the peer's --bf16
// runs them, and the trained convolutions in mixed precision (train
// --bf16-train), which the peer does not have.
// forward-int8 calibrates 8-bit inference on the benchmark's own random
// batch, as the peer calibrates on random batches, then runs it; Run's
// int8MaxErr bounds the calibration error of a layer run in int8 (the
// peer quantizes every convolution: a bound of 1 or more does too).
var Modes = []string{"forward", "forward-bf16", "forward-int8", "stage1", "stage2", "stage2-cached"}

// Spec is a mode name taken apart: the work and the precision of the
// frozen layers.
type Spec struct {
	Work string // forward, stage1, stage2 or stage2-cached
	BF16 bool   // frozen layers in bfloat16, and trained convolutions in mixed precision
	Int8 bool   // frozen layers in 8-bit integers (forward only)
}

// ParseMode splits a mode name such as "stage2-cached-bf16".
func ParseMode(mode string) (Spec, error) {
	s := Spec{Work: mode}
	if w, ok := strings.CutSuffix(mode, "-bf16"); ok {
		s = Spec{Work: w, BF16: true}
	} else if mode == "forward-int8" {
		s = Spec{Work: "forward", Int8: true}
	}
	switch s.Work {
	case "forward", "stage1", "stage2", "stage2-cached":
		return s, nil
	}
	return s, fmt.Errorf("bench: unknown mode %q (%s, or a stage mode with -bf16)", mode, strings.Join(Modes, ", "))
}

// Name is the mode's name, the peer's for the same work.
func (s Spec) Name() string {
	switch {
	case s.BF16:
		return s.Work + "-bf16"
	case s.Int8:
		return s.Work + "-int8"
	}
	return s.Work
}

// Run measures one mode (see Modes) of the given backbone.
func Run(backbone, mode string, size, batch, iters, warmup int, int8MaxErr float32) (Result, error) {
	return run(backbone, mode, size, batch, iters, warmup, int8MaxErr, "")
}

// RunFrom is Run with stage two trained from the layer unfreezeFrom (a
// name or an index; "" for the backbone's default), as a recipe that
// fine-tunes more of the backbone does.
func RunFrom(backbone, mode string, size, batch, iters, warmup int, unfreezeFrom string) (Result, error) {
	return run(backbone, mode, size, batch, iters, warmup, 0, unfreezeFrom)
}

func run(backbone, mode string, size, batch, iters, warmup int, int8MaxErr float32, unfreezeFrom string) (Result, error) {
	bb, err := models.Get(backbone)
	if err != nil {
		return Result{}, err
	}
	spec, err := ParseMode(mode)
	if err != nil {
		return Result{}, err
	}
	clf, err := classifier.New(classifier.Meta{Backbone: backbone, Size: size, Classes: []string{"a", "b", "c", "d", "e", "f"}}, 1)
	if err != nil {
		return Result{}, err
	}
	m := clf.Model
	m.BF16 = spec.BF16
	m.TrainBF16 = spec.BF16 && spec.Work != "forward"
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(batch, size, size, 3)
	for i := range x.Data {
		x.Data[i] = r.Float32()*2 - 1
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = r.IntN(6)
	}
	from := m.Index(bb.FineTuneFrom)
	if unfreezeFrom != "" {
		if i, err := strconv.Atoi(unfreezeFrom); err == nil {
			from = i
		} else {
			from = m.Index(unfreezeFrom)
		}
		if from <= 0 || from >= len(m.Layers) {
			return Result{}, fmt.Errorf("bench: no layer %q to fine-tune from in %s", unfreezeFrom, backbone)
		}
	}
	if err := m.SetTrainable(0, len(m.Layers), false); err != nil {
		return Result{}, err
	}
	var opt nn.Optimizer
	feed := m.Inputs[0]
	in := x
	switch spec.Work {
	case "forward":
		if spec.Int8 {
			if err := m.CalibrateInt8(x); err != nil {
				return Result{}, err
			}
			if err := m.TuneInt8(x); err != nil {
				return Result{}, err
			}
			m.Int8, m.Int8MaxErr = true, int8MaxErr
		}
	case "stage1":
		if err := m.SetTrainable(clf.BaseEnd+1, len(m.Layers), true); err != nil {
			return Result{}, err
		}
		opt = nn.NewRMSprop(1e-3)
	case "stage2", "stage2-cached":
		if err := m.SetTrainable(from, len(m.Layers), true); err != nil {
			return Result{}, err
		}
		opt = nn.NewSGD(1e-4, 0.9, false)
		if spec.Work == "stage2-cached" {
			feed = from - 1
			outs, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, []int{feed}, false)
			if err != nil {
				return Result{}, err
			}
			in = outs[0]
		}
	}
	params := m.TrainableParams()
	step := func() error {
		if spec.Work == "forward" {
			_, err := m.Run(map[int]*tensor.Tensor{feed: in}, []int{clf.BaseEnd}, false)
			return err
		}
		for _, p := range params {
			p.Grad.Zero()
		}
		outs, err := m.Run(map[int]*tensor.Tensor{feed: in}, []int{m.Output}, true)
		if err != nil {
			return err
		}
		_, dz, err := nn.CategoricalCrossentropy{}.Compute(outs[0], labels)
		if err != nil {
			return err
		}
		if err := m.Backward(dz, true); err != nil {
			return err
		}
		opt.Step(params)
		return nil
	}
	for i := 0; i < warmup; i++ {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	start := time.Now()
	for i := 0; i < iters; i++ {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	ips := float64(batch*iters) / time.Since(start).Seconds()
	res := Result{Peer: "trashsort", Mode: spec.Name(), Size: size, Batch: batch, ImgPerS: round(ips), GFLOPPerS: round(ips * bb.FLOPs(size) / 1e9), Iterations: iters}
	if spec.Int8 {
		k, n := m.Int8Layers()
		res.Int8Layers = fmt.Sprintf("%d/%d", k, n)
	}
	return res, nil
}

func round(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

// PeerArgs are the arguments that select the same work in
// pytorch_peer.py: its own forward modes, or a stage mode with --bf16.
func (s Spec) PeerArgs() []string {
	if s.Work == "forward" {
		return []string{"--mode", s.Name()}
	}
	if s.BF16 {
		return []string{"--mode", s.Work, "--bf16"}
	}
	return []string{"--mode", s.Work}
}
