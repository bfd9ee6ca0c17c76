package filelock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(p); !errors.Is(err, ErrHeld) {
		t.Fatalf("second TryLock: %v, want ErrHeld", err)
	}
	got := make(chan struct{})
	go func() {
		u, err := Lock(context.Background(), p)
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("Lock did not wait for the holder")
	case <-time.After(150 * time.Millisecond):
	}
	unlock()
	<-got
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	u, err := Lock(ctx, p)
	if err != nil {
		t.Fatalf("free lock: %v", err)
	}
	u()
}
