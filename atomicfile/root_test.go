package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFileIn: a file lands inside the root, complete, with no
// temporary file left; names and links that lead outside it are refused
// and write nothing there.
func TestWriteFileIn(t *testing.T) {
	base := t.TempDir()
	inside := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{inside, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(inside, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(inside)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := WriteFileIn(root, "glass/a.jpg", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(inside, "glass", "a.jpg")); err != nil || string(b) != "photo" {
		t.Fatalf("read back: %q %v", b, err)
	}
	es, _ := os.ReadDir(filepath.Join(inside, "glass"))
	if len(es) != 1 {
		t.Fatalf("files left beside the photo: %v", es)
	}
	for _, name := range []string{"../outside/x.jpg", "link/x.jpg", "/etc/x.jpg"} {
		err := WriteFileIn(root, name, []byte("x"))
		if err == nil || !strings.Contains(err.Error(), inside) {
			t.Errorf("%s: got %v, want an error naming the root", name, err)
		}
	}
	if es, _ := os.ReadDir(outside); len(es) != 0 {
		t.Fatalf("written outside the root: %v", es)
	}
}
