// Package bench measures the recipe's work the way the PyTorch peer
// benchmark does (forward, stage one and stage two steps on random data), so
// the two can be compared in one run.
package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"trashsort/classifier"
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
}

// Modes lists the measurements: forward (frozen backbone inference),
// stage1 (frozen backbone + head training step), stage2 (top blocks and
// head trained, full forward) and stage2-cached (the same step fed with
// cached boundary activations, as --cache-features trains).
var Modes = []string{"forward", "stage1", "stage2", "stage2-cached"}

// gflopPerImage is the forward cost of InceptionV3 at size (5.713 GMAC at 299).
func gflopPerImage(size int) float64 {
	return 2 * 5.713 * float64(size*size) / (299 * 299)
}

// Run measures one mode of the given backbone; bf16 runs the frozen
// convolutions in bfloat16.
func Run(backbone, mode string, size, batch, iters, warmup int, bf16 bool) (Result, error) {
	clf, err := classifier.New(classifier.Meta{Backbone: backbone, Size: size, Classes: []string{"a", "b", "c", "d", "e", "f"}}, 1)
	if err != nil {
		return Result{}, err
	}
	m := clf.Model
	m.BF16 = bf16
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(batch, size, size, 3)
	for i := range x.Data {
		x.Data[i] = r.Float32()*2 - 1
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = r.IntN(6)
	}
	from := m.Index("conv2d_81")
	if from < 0 {
		from = m.Index("block_13_expand")
	}
	m.SetTrainable(0, len(m.Layers), false)
	var opt nn.Optimizer
	feed := m.Inputs[0]
	in := x
	switch mode {
	case "forward":
	case "stage1":
		m.SetTrainable(clf.BaseEnd+1, len(m.Layers), true)
		opt = nn.NewRMSprop(1e-3)
	case "stage2", "stage2-cached":
		m.SetTrainable(from, len(m.Layers), true)
		opt = nn.NewSGD(1e-4, 0.9, false)
		if mode == "stage2-cached" {
			feed = from - 1
			outs, err := m.Run(map[int]*tensor.Tensor{m.Inputs[0]: x}, []int{feed}, false)
			if err != nil {
				return Result{}, err
			}
			in = outs[0]
		}
	default:
		return Result{}, fmt.Errorf("bench: unknown mode %q (%v)", mode, Modes)
	}
	params := m.TrainableParams()
	step := func() error {
		if mode == "forward" {
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
	if bf16 {
		mode += "-bf16"
	}
	return Result{Peer: "trashsort", Mode: mode, Size: size, Batch: batch, ImgPerS: round(ips), GFLOPPerS: round(ips * gflopPerImage(size)), Iterations: iters}, nil
}

func round(v float64) float64 { return float64(int(v*100+0.5)) / 100 }
