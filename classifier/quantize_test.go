package classifier

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"testing"

	"trashsort/dnnl"
	"trashsort/tensor"
)

// randomBatches yields n batches of 4 random raw images [4, 64, 64, 3],
// counting how many were taken, and err after them when it is set.
func randomBatches(n int, err error, taken *int) iter.Seq2[*tensor.Tensor, error] {
	r := rand.New(rand.NewPCG(7, 8))
	return func(yield func(*tensor.Tensor, error) bool) {
		for b := 0; b < n; b++ {
			x := tensor.New(4, 64, 64, 3)
			for i := range x.Data {
				x.Data[i] = 255 * r.Float32()
			}
			*taken++
			if !yield(x, nil) {
				return
			}
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

// Quantize calibrates on the first images, checks on the next ones and
// reads no further; without a check it leaves the bound as it was.
func TestQuantize(t *testing.T) {
	if !dnnl.HasInt8() {
		t.Skip("no int8 kernels for this CPU: int8 runs in float32 here")
	}
	broken := errors.New("unreadable folder")
	for _, tc := range []struct {
		name               string
		batches            int
		err                error
		o                  QuantizeOptions
		images, held, read int
		wantErr            bool
	}{
		{"no check", 5, nil, QuantizeOptions{Images: 8}, 8, 0, 3, false},
		{"checked", 5, nil, QuantizeOptions{Images: 6, Check: 4, Batch: 4}, 8, 4, 4, false},
		{"fewer than asked", 2, nil, QuantizeOptions{Images: 16, Check: 4}, 8, 0, 2, false},
		{"no images", 0, nil, QuantizeOptions{Images: 8}, 0, 0, 0, true},
		{"loader error", 1, broken, QuantizeOptions{Images: 8}, 0, 0, 1, true},
		{"agreement above 1", 1, nil, QuantizeOptions{Images: 4, MinAgreement: 2}, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := small(t)
			c.Meta.Int8MaxErr = 0.5
			read := 0
			q, err := c.Quantize(context.Background(), randomBatches(tc.batches, tc.err, &read), tc.o)
			if (err != nil) != tc.wantErr || read != tc.read {
				t.Fatalf("err %v after %d batches; want error %v after %d", err, read, tc.wantErr, tc.read)
			}
			if err != nil {
				return
			}
			if q.Images != tc.images || q.Held != tc.held || q.Convolutions == 0 || q.Convolutions != len(c.Meta.Int8) {
				t.Fatalf("calibrated %d convolutions on %d images, checked %d; want %d and %d", q.Convolutions, q.Images, q.Held, tc.images, tc.held)
			}
			if tc.held == 0 {
				if c.Meta.Int8MaxErr != 0.5 || q.Checks != nil {
					t.Errorf("no check, yet bound %g and checks %v", c.Meta.Int8MaxErr, q.Checks)
				}
				return
			}
			// With no minimum agreement the first bound tried is kept.
			if !q.Reached || q.MaxErr != Int8Bounds[0] || c.Meta.Int8MaxErr != q.MaxErr || len(q.Checks) != 1 || q.Checks[0].Images != tc.held {
				t.Errorf("reached %v, bound %g (stored %g), checks %+v", q.Reached, q.MaxErr, c.Meta.Int8MaxErr, q.Checks)
			}
		})
	}
}
