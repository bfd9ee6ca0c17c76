package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"trashsort/filelock"
)

// lockOutput keeps two runs from writing one model file and checkpoint: it
// holds <out>.lock (or <checkpoint>.lock without an output file) for the
// run. A killed run's lock is released by the kernel.
func lockOutput(cfg Config) (unlock func(), err error) {
	target := cfg.Out
	if target == "" {
		target = cfg.Checkpoint
	}
	if target == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return nil, err
	}
	unlock, err = filelock.TryLock(target + ".lock")
	if errors.Is(err, filelock.ErrHeld) {
		return nil, fmt.Errorf("another training run is writing %s (its lock %s.lock is held)", target, target)
	}
	return unlock, err
}
