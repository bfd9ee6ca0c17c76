package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestIsTemp(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{".model.bin.tmp-123-456", true},
		{".a.tmp-1-2", true},
		{"model.bin", false},
		{".model.bin", false},
		{"model.bin.tmp-123-456", false}, // not hidden
		{".model.bin.tmp-123", false},
		{".model.bin.tmp-x-456", false},
		{".model.bin.tmp-123-", false},
		{".tmp-123-456", false}, // no destination name
	} {
		if got := IsTemp(c.name); got != c.want {
			t.Errorf("IsTemp(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// killedWrite runs a writer of path in a child process and kills it
// mid-write, returning the temporary file it left.
func killedWrite(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HANG_WRITING="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if line != "writing\n" {
		t.Fatalf("child said %q", line)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), tmpPrefix(path)+"*"))
	if len(matches) != 1 {
		t.Fatalf("killed writer left %v, want one temporary file", matches)
	}
	return filepath.Base(matches[0])
}

// TestSweep: only temporary files older than the age go, whatever process
// wrote them; other files, recent temporary files and subfolders stay.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	killed := killedWrite(t, filepath.Join(dir, "photo.jpg"))
	old := time.Now().Add(-time.Hour)
	files := []struct {
		name string
		old  bool
		kept bool
	}{
		{killed, true, false},
		{".b.jpg.tmp-" + strconv.Itoa(os.Getpid()) + "-7", true, false}, // this process's pid, reused after a restart
		{".c.jpg.tmp-99-8", false, true},                                // a write that may be in progress
		{"d.jpg", true, true},
		{".e.jpg", true, true},
		{".f.jpg.tmp-old", true, true},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if f.name != killed {
			os.WriteFile(p, []byte("x"), 0o644)
		}
		if f.old {
			os.Chtimes(p, old, old)
		}
	}
	sub := filepath.Join(dir, ".g.tmp-1-2")
	os.Mkdir(sub, 0o755)
	os.Chtimes(sub, old, old)
	n, err := Sweep(dir, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("removed %d, want 2", n)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f.name)); (err == nil) != f.kept {
			t.Errorf("%s: kept %v, want %v", f.name, err == nil, f.kept)
		}
	}
	if _, err := os.Stat(sub); err != nil {
		t.Errorf("a folder was swept: %v", err)
	}
	if n, err := Sweep(filepath.Join(dir, "missing"), time.Minute); n != 0 || err != nil {
		t.Errorf("missing folder: %d, %v", n, err)
	}
}

// TestWriteFileNoScan writes like WriteFile and leaves other files,
// stale temporary ones included, to Sweep.
func TestWriteFileNoScan(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "a.jpg")
	stale := filepath.Join(dir, "sub", tmpPrefix(p)+"999999999-1")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(stale, nil, 0o644)
	for _, content := range []string{"old", "new"} {
		if err := WriteFileNoScan(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("content %q, want %q", b, content)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 2 {
		t.Errorf("folder holds %v, want the file and the untouched stale one", ents)
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	readOnly := filepath.Join(dir, "read-only")
	os.Mkdir(readOnly, 0o555)
	cases := []struct {
		name, dir string
		ok        bool
		root      bool // permissions are not enforced for root
	}{
		{"writable", dir, true, false},
		{"missing", filepath.Join(dir, "missing"), false, false},
		{"a file", file, false, false},
		{"under a file", filepath.Join(file, "sub"), false, false},
		{"read-only", readOnly, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() == 0 {
				t.Skip("running as root: permissions are not enforced")
			}
			err := CheckWritable(c.dir)
			if (err == nil) != c.ok {
				t.Fatalf("CheckWritable(%s) = %v, want ok %v", c.dir, err, c.ok)
			}
			if err != nil && !strings.Contains(err.Error(), c.dir) {
				t.Errorf("error %q does not name the folder", err)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("the check left files: %v", ents)
	}
}
