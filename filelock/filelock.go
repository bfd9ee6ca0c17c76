// Package filelock holds advisory locks on files (flock): one process at a
// time per lock file. The kernel releases a lock when its process ends, so a
// killed process never leaves a lock held.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrHeld is wrapped by TryLock's error when another holder has the lock.
var ErrHeld = errors.New("held by another process")

// Lock takes an exclusive lock on path (created if missing), waiting until
// ctx is done while another process or goroutine holds it. It returns the
// function that releases it.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TryLock is Lock without waiting: the error wraps ErrHeld when the lock is
// taken.
func TryLock(path string) (unlock func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unlock, err = Lock(ctx, path)
	if err != nil && errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("lock %s: %w", path, ErrHeld)
	}
	return unlock, err
}
