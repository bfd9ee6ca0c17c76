package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"trashsort/classifier"
	"trashsort/internal/shared"
	"trashsort/safetensors"
	"trashsort/tensor"
)

// TestMain lets the test binary run the command line (TRASHSORT_TEST_MAIN),
// so tests can run `trashsort train` as a process and kill it; with
// TRASHSORT_TEST_FSIZE the process's file-size limit is set first (a disk
// that fills up).
func TestMain(m *testing.M) {
	if os.Getenv("TRASHSORT_TEST_MAIN") == "1" {
		if s := os.Getenv("TRASHSORT_TEST_FSIZE"); s != "" {
			signal.Ignore(syscall.SIGXFSZ) // writes past the limit fail with EFBIG instead
			var n uint64
			fmt.Sscan(s, &n)
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tinyData links 4 training and 2 validation images per class from the
// shared TrashNet copy into a temporary dataset folder.
func tinyData(t *testing.T) string {
	root := shared.Path(t, "trashnet")
	dir := t.TempDir()
	for split, n := range map[string]int{"train": 4, "val": 2} {
		classes, err := os.ReadDir(filepath.Join(root, split))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range classes {
			if !c.IsDir() {
				continue
			}
			files, _ := os.ReadDir(filepath.Join(root, split, c.Name()))
			os.MkdirAll(filepath.Join(dir, split, c.Name()), 0o755)
			for _, f := range files[:min(n, len(files))] {
				os.Symlink(filepath.Join(root, split, c.Name(), f.Name()), filepath.Join(dir, split, c.Name(), f.Name()))
			}
		}
	}
	return dir
}

func trainArgs(dataDir, weightsPath, out string, extra ...string) []string {
	return append([]string{"train", "--recipe", "seed", "--data", dataDir, "--weights", weightsPath, "--backbone", "mobilenet_v2_035",
		"--size", "64", "--batch", "8", "--units", "32", "--epochs1", "3", "--epochs2", "2", "--cache-features", "1",
		"--workers", "2", "--seed", "7", "--out", out}, extra...)
}

func trainProc(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "TRASHSORT_TEST_MAIN=1"), env...)
	return cmd
}

// modelState is a model file's weights and its metadata without the
// training date.
func modelState(t *testing.T, path string) (map[string]safetensors.Tensor, string) {
	t.Helper()
	ts, meta, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := classifier.ParseMeta(meta, path)
	if err != nil {
		t.Fatal(err)
	}
	m.Summary.Date = ""
	b, _ := json.Marshal(m)
	return ts, string(b)
}

// TestKilledTrainingResumesToTheSameModel runs `trashsort train` as a
// process, kills it with SIGKILL at random moments (during feature
// extraction, epochs, model and checkpoint writes), resumes each time with
// --resume, and requires the same model file (weights and metadata, the
// date aside) as an uninterrupted run. Then it fills the disk (a file-size
// limit) during a resumed run: a clear error, and the model and checkpoint
// as they were.
func TestKilledTrainingResumesToTheSameModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains several times")
	}
	dataDir := tinyData(t)
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")

	ref := filepath.Join(t.TempDir(), "ref.safetensors")
	t0 := time.Now()
	if out, err := trainProc(trainArgs(dataDir, w, ref)).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	full := time.Since(t0)
	wantTs, wantMeta := modelState(t, ref)

	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var kills []string
	// Each attempt waits for a moment of the run (feature extraction, or
	// the first epoch line this run prints, which comes after the best
	// model is saved and just before the checkpoint is written), then kills
	// it a random 0-150 ms later.
	for attempt := 0; ; attempt++ {
		args := trainArgs(dataDir, w, out)
		if attempt > 0 {
			args = append(args, "--resume")
		}
		cmd := trainProc(args)
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if attempt >= 8 {
			if err := <-done; err != nil {
				t.Fatalf("final resume: %v\n%s", err, log.String())
			}
			break
		}
		mark := "[stage "
		if attempt%3 == 0 {
			mark = "feature cache:"
		}
		delay := time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
		var fired <-chan time.Time
		tick := time.NewTicker(2 * time.Millisecond)
	wait:
		for {
			select {
			case err := <-done:
				tick.Stop()
				if err != nil {
					t.Fatalf("attempt %d: %v\n%s", attempt, err, log.String())
				}
				kills = append(kills, fmt.Sprintf("finished at %v", time.Since(t0).Round(time.Millisecond)))
				goto finished
			case <-tick.C:
				if fired == nil && strings.Contains(log.String(), mark) {
					fired = time.After(delay)
				}
			case <-fired:
				break wait
			}
		}
		tick.Stop()
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills = append(kills, fmt.Sprintf("killed %v after %q (%s) at %v", delay.Round(time.Millisecond), strings.TrimSpace(mark), killPoint(dir, log.String()), time.Since(t0).Round(time.Millisecond)))
	}
finished:
	n := 0
	for _, k := range kills {
		if strings.HasPrefix(k, "killed") {
			n++
		}
	}
	t.Logf("uninterrupted run %v; %d kills: %s", full.Round(time.Millisecond), n, strings.Join(kills, "; "))
	gotTs, gotMeta := modelState(t, out)
	if gotMeta != wantMeta {
		t.Errorf("metadata after kills and resumes:\n%s\nuninterrupted:\n%s", gotMeta, wantMeta)
	}
	for name, v := range wantTs {
		if e := tensor.RelErr(gotTs[name].Data, v.Data); e != 0 {
			t.Fatalf("%s differs after kills and resumes (rel err %g)", name, e)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	// Disk full: a one-epoch run, then a resume to more epochs with a
	// file-size limit below the model's size.
	dir2 := t.TempDir()
	out2 := filepath.Join(dir2, "m.safetensors")
	short := trainArgs(dataDir, w, out2)
	short = append(short, "--epochs1", "1", "--epochs2", "0")
	if o, err := trainProc(short).CombinedOutput(); err != nil {
		t.Fatalf("one-epoch run: %v\n%s", err, o)
	}
	ckpt := filepath.Join(dir2, "m.safetensors.ckpt", "last.safetensors")
	before := map[string][]byte{}
	for _, p := range []string{out2, ckpt} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		before[p] = b
	}
	cmd := trainProc(trainArgs(dataDir, w, out2, "--resume"), fmt.Sprintf("TRASHSORT_TEST_FSIZE=%d", len(before[out2])/2))
	o, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a full disk went unnoticed\n%s", o)
	}
	if !strings.Contains(string(o), "file too large") && !strings.Contains(string(o), "no space") {
		t.Errorf("error does not say the disk is full:\n%s", o)
	}
	for p, b := range before {
		if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
			t.Errorf("%s changed by the failed run", p)
		}
	}
	t.Logf("disk full: %s", lastLine(string(o)))
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// killPoint says what the killed run was doing, from its files and output.
func killPoint(dir, log string) string {
	var what []string
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".*.tmp-*")); len(tmp) > 0 {
		what = append(what, "mid checkpoint write")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(tmp) > 0 {
		what = append(what, "mid model write")
	}
	epochs := strings.Count(log, "[stage ")
	switch last := lastLine(log); {
	case strings.Contains(last, "features"):
		what = append(what, "extracting features")
	case epochs > 0:
		what = append(what, fmt.Sprintf("after %d epochs logged", epochs))
	default:
		what = append(what, "starting up")
	}
	return strings.Join(what, ", ")
}

func lastLine(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(parts) - 1; i >= 0; i-- {
		if p := strings.TrimSpace(parts[i]); p != "" {
			return p
		}
	}
	return ""
}

// TestTrainMembers: --members 2 trains two models with consecutive seeds
// into model.safetensors and model-2.safetensors and prints the ensemble.
func TestTrainMembers(t *testing.T) {
	dataDir := tinyData(t)
	out := filepath.Join(t.TempDir(), "model.safetensors")
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	args := trainArgs(dataDir, w, out, "--members", "2", "--epochs1", "1", "--epochs2", "1")
	o, err := trainProc(args).CombinedOutput()
	if err != nil {
		t.Fatalf("train --members 2: %v\n%s", err, o)
	}
	second := filepath.Join(filepath.Dir(out), "model-2.safetensors")
	if !strings.Contains(string(o), "ensemble: --model "+out+","+second) {
		t.Errorf("no ensemble line:\n%s", o)
	}
	seeds := map[uint64]bool{}
	for _, p := range []string{out, second} {
		clf, err := classifier.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds[clf.Meta.Summary.Seed] = true
	}
	if !seeds[7] || !seeds[8] {
		t.Errorf("member seeds %v, want 7 and 8", seeds)
	}
	if _, err := run(t, "train", "--members", "0", "--data", dataDir); err == nil || !strings.Contains(err.Error(), "--members") {
		t.Errorf("--members 0: %v", err)
	}
}
