package data

import (
	"context"
	"os"
	"testing"
)

// TestLoaderAll reads a whole epoch, stops one early and fails one on a bad
// file (Strict), and expects the batches in order and the reason last.
func TestLoaderAll(t *testing.T) {
	d := makeSet(t, 12)
	bad := makeSet(t, 12)
	if err := os.WriteFile(bad.Items[7].Path, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ds   *Dataset
		ctx  context.Context
		stop int // batches to take before leaving the loop (0: all)
		// batches is how many arrive; with an error, at most that many
		// (the workers stop as soon as one fails, so fewer may be handed over).
		batches int
		err     bool
	}{
		{"whole epoch", d, context.Background(), 0, 6, false},
		{"left early", d, context.Background(), 2, 2, false},
		{"bad file", bad, context.Background(), 0, 3, true},
		{"cancelled", d, cancelled, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLoader(tc.ds, Config{Size: 8, BatchSize: 2, Workers: 3, Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			n, failed := 0, false
			for b, err := range l.All(tc.ctx, 0) {
				if err != nil {
					failed = true
					continue
				}
				if failed {
					t.Fatal("a batch after the error")
				}
				if b.Index != n {
					t.Fatalf("batch %d arrived as %d", b.Index, n)
				}
				n++
				if n == tc.stop {
					break
				}
			}
			if (n != tc.batches && !tc.err) || n > tc.batches || failed != tc.err {
				t.Errorf("%d batches, error %v; want %d and %v", n, failed, tc.batches, tc.err)
			}
		})
	}
}
