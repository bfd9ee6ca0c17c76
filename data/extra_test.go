package data

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAddFolder(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"glass/1.jpg", "glass/2.png", "paper/3.jpg", "paper/notes.txt", "paper/.4.jpg.tmp"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte("x"), 0o644)
	}
	d := &Dataset{Classes: []string{"cardboard", "glass", "paper"}, Items: []Item{{Path: "a.jpg", Label: 0}}}
	n, err := d.AddFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	counts := d.Counts()
	if n != 3 || len(d.Items) != 4 || counts[0] != 1 || counts[1] != 2 || counts[2] != 1 {
		t.Errorf("added %d, counts %v", n, counts)
	}
	os.MkdirAll(filepath.Join(root, "zebra"), 0o755)
	if _, err := d.AddFolder(root); err == nil {
		t.Error("an unknown class folder accepted")
	}
	if _, err := d.AddFolder(filepath.Join(root, "missing")); err == nil {
		t.Error("a missing folder accepted")
	}
}
