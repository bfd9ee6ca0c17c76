package dnnl

import (
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"trashsort/tensor"
)

// TestKernelsSurviveSignals runs the GEMM weight gradients (oneDNN 2.x's
// JIT GEMM kernels point the stack pointer into the heap while they run, so
// a signal handler run on one of their threads corrupts the heap: oneDNN
// issue 4845) and a convolution while the process is flooded with signals:
// the CPU profiler's and SIGWINCH, which a terminal sends on every resize.
// Before the engine blocked signals on its threads this aborted with
// "corrupted size vs. prev_size" within a second.
func TestKernelsSurviveSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("signal flood: not in -short")
	}
	if err := pprof.StartCPUProfile(discard{}); err == nil {
		defer pprof.StopCPUProfile()
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			syscall.Kill(os.Getpid(), syscall.SIGWINCH)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	r := rand.New(rand.NewPCG(7, 8))
	g1, _ := tensor.NewConvGeom(32, 5, 5, 512, 192, 1, 1, 1, 1, tensor.Same, 1)
	g3, _ := tensor.NewConvGeom(32, 5, 5, 192, 192, 1, 3, 1, 1, tensor.Same, 1)
	deadline := time.Now().Add(2 * time.Second)
	for _, g := range []tensor.ConvGeom{g1, g3} {
		x, dy, dw := randSlice(r, g.InLen()), randSlice(r, g.OutLen()), make([]float32, g.WeightLen())
		y := make([]float32, g.OutLen())
		for time.Now().Before(deadline) {
			if err := ConvBackwardWeights(g, x, dy, dw, nil); err != nil {
				t.Fatal(err)
			}
			if err := ConvForward(g, x, dw, nil, y, ReLU); err != nil {
				t.Fatal(err)
			}
		}
		deadline = time.Now().Add(2 * time.Second)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
