package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestFailedWriteKeepsOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("want the fill error")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content %q after a failed write", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFile(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
}

// TestMain lets the test binary act as a writer that is killed mid-write.
func TestMain(m *testing.M) {
	if p := os.Getenv("ATOMICFILE_HANG_WRITING"); p != "" {
		Write(p, func(w io.Writer) error {
			w.Write([]byte("partial"))
			os.Stdout.WriteString("writing\n")
			select {} // killed here
		})
	}
	os.Exit(m.Run())
}

// TestKilledWriterLeavesNothing: a writer killed with SIGKILL mid-write
// leaves a temporary file; the next write of the same file removes it and
// the destination holds the old, then the new content.
func TestKilledWriterLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HANG_WRITING="+p)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "writing\n" {
		t.Fatalf("child said %q", line)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("want the file and the killed writer's temporary file, got %v", ents)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content %q after a killed write", b)
	}
	// A temporary file of a live writer is kept.
	live := filepath.Join(dir, tmpPrefix(p)+strconv.Itoa(os.Getppid())+"-1")
	os.WriteFile(live, nil, 0o644)
	if err := WriteFile(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 || ents[0].Name() != filepath.Base(live) && ents[1].Name() != filepath.Base(live) {
		t.Errorf("after the next write: %v, want model.bin and the live writer's file", ents)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
}
