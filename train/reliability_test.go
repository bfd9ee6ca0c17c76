package train

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/filelock"
	"trashsort/safetensors"
	"trashsort/tensor"
)

// TestStateJSONNonFinite: a NaN or infinite loss (a stage whose first
// validation diverged) is written and read back, not a checkpoint error.
func TestStateJSONNonFinite(t *testing.T) {
	st := newState()
	st.StageBestLoss = math.Inf(1)
	st.Best = EpochLog{Epoch: 1, Stage: 1, Loss: 0.5, ValLoss: math.NaN(), ValAcc: 0.25, LR: 1e-3, Seconds: 2}
	st.History = []EpochLog{st.Best, {Epoch: 2, ValLoss: math.Inf(-1)}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back state
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(back.StageBestLoss, 1) || !math.IsNaN(back.Best.ValLoss) || !math.IsInf(back.History[1].ValLoss, -1) ||
		back.Best.ValAcc != 0.25 || back.Best.Seconds != 2 || back.Best.LR != 1e-3 || back.History[1].Epoch != 2 {
		t.Errorf("round trip: %s -> %+v", b, back)
	}
	// Finite values keep their plain JSON numbers.
	if b, _ := json.Marshal(EpochLog{Loss: 0.5}); !strings.Contains(string(b), `"loss":0.5`) {
		t.Errorf("finite log %s", b)
	}
}

// TestOutputLocked: a second run on the same output is refused while the
// first holds it.
func TestOutputLocked(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(dir)
	unlock, err := filelock.TryLock(cfg.Out + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	empty := &data.Dataset{Classes: []string{"a", "b"}}
	if _, err := Fit(context.Background(), cfg, empty, empty, ""); err == nil || !strings.Contains(err.Error(), "another training run") {
		t.Errorf("got %v, want the lock refusal", err)
	}
}

// TestResumeDoesNotTrustOut: resuming takes the best weights from the
// checkpoint folder, not from --out, which may have been replaced (here by
// garbage) since; the result equals an uninterrupted run.
func TestResumeDoesNotTrustOut(t *testing.T) {
	tr, va, w := subsets(t, 4, 2)
	base := smallConfig("")
	base.Size, base.Epochs1, base.Epochs2, base.CacheFeatures, base.LogDir = 64, 2, 1, 1, ""
	run := func(dir string, tamper bool) map[string]classifier.Tensor {
		cfg := base
		cfg.Out = filepath.Join(dir, "m.safetensors")
		cfg.Checkpoint = filepath.Join(dir, "ckpt")
		if tamper {
			cfg.StopAfter = 1
			if _, err := Fit(context.Background(), cfg, tr, va, w); !errors.Is(err, ErrStopped) {
				t.Fatalf("stop: %v", err)
			}
			if err := os.WriteFile(cfg.Out, []byte("another run's file"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg.StopAfter, cfg.Resume = 0, true
		}
		if _, err := Fit(context.Background(), cfg, tr, va, w); err != nil {
			t.Fatal(err)
		}
		ts, _, err := safetensors.ReadFile(cfg.Out)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(cfg.Checkpoint, "best-epoch*")); len(m) != 1 {
			t.Errorf("checkpoint best files %v, want one", m)
		}
		return ts
	}
	want := run(t.TempDir(), false)
	got := run(t.TempDir(), true)
	for name, v := range want {
		if e := tensor.RelErr(got[name].Data, v.Data); e != 0 {
			t.Fatalf("%s differs after a resume past a replaced --out (rel err %g)", name, e)
		}
	}
}

// TestFailedBatchLeavesNoGoroutines: an error from the batch function (a
// failed feature-cache put, a failed forward pass) stops the epoch without
// leaving the loader's goroutines or batches behind.
func TestFailedBatchLeavesNoGoroutines(t *testing.T) {
	tr, _, _ := subsets(t, 8, 1)
	l, err := data.NewLoader(tr, data.Config{Size: 32, BatchSize: 4, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	for epoch := 0; epoch < 5; epoch++ {
		calls := 0
		err := eachBatch(context.Background(), l, epoch, func([]float32) {}, func(*tensor.Tensor, []int) error {
			calls++
			if calls == 2 {
				return errors.New("feature cache: disk full")
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines %d before, %d after five failed epochs", before, after)
	}
}
