package train

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestFileWriter: jobs run one at a time in the order queued, and a job's
// error comes back from the next queue or from wait.
func TestFileWriter(t *testing.T) {
	var w fileWriter
	if err := w.wait(); err != nil {
		t.Fatalf("wait with nothing queued: %v", err)
	}
	var mu sync.Mutex
	var order []int
	running := 0
	for i := 0; i < 5; i++ {
		if err := w.queue(func() error {
			mu.Lock()
			running++
			if running > 1 {
				t.Error("two jobs at once")
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			order = append(order, i)
			running--
			mu.Unlock()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("jobs ran in order %v", order)
		}
	}
	if len(order) != 5 {
		t.Fatalf("%d of 5 jobs ran", len(order))
	}
	boom := errors.New("disk full")
	if err := w.queue(func() error { return boom }); err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := w.queue(func() error { ran = true; return nil }); !errors.Is(err, boom) {
		t.Errorf("queue after a failed job: %v, want %v", err, boom)
	}
	if ran {
		t.Error("a job was queued after a failed one")
	}
	if err := w.queue(func() error { return boom }); err != nil {
		t.Fatal(err)
	}
	if err := w.wait(); !errors.Is(err, boom) {
		t.Errorf("wait after a failed job: %v, want %v", err, boom)
	}
	if err := w.wait(); err != nil {
		t.Errorf("second wait: %v", err)
	}
}
