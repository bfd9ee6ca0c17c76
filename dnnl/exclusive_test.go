package dnnl

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"trashsort/tensor"
)

// TestExclusive: calls made inside Exclusive run directly on the engine's
// thread (handing them over to it would wait for the caller forever), give
// the same results as calls from elsewhere, and other goroutines' calls
// wait for it; a panic inside is raised again in the caller and leaves the
// engine working.
func TestExclusive(t *testing.T) {
	g, _ := tensor.NewConvGeom(2, 6, 6, 8, 16, 3, 3, 1, 1, tensor.Same, 1)
	x, w := make([]float32, g.InLen()), make([]float32, g.WeightLen())
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	want := make([]float32, g.OutLen())
	if err := ConvForward(g, x, w, nil, want, ReLU); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = Exclusive(func() error {
				for range 3 {
					got := make([]float32, g.OutLen())
					if err := ConvForward(g, x, w, nil, got, ReLU); err != nil {
						return err
					}
					if e := tensor.RelErr(got, want); e != 0 {
						return fmt.Errorf("inside Exclusive: rel err %g", e)
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	func() {
		defer func() {
			r := recover()
			if s, _ := r.(string); !strings.Contains(s, "boom") || !strings.Contains(s, "engine's thread") {
				t.Errorf("recovered %v, want the panic raised again with the engine's stack", r)
			}
		}()
		Exclusive(func() error { panic("boom") })
	}()
	if err := ConvForward(g, x, w, nil, make([]float32, g.OutLen()), ReLU); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}
