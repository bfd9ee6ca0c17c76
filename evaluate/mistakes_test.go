package evaluate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/internal/testimages"
)

// TestMistakesPageCaptionsAndOverlays: every mistake's card carries its
// thumbnail and Grad-CAM overlay, and a caption with the path relative to
// the data folder (the full path on hover).
func TestMistakesPageCaptionsAndOverlays(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a-rather-long-folder-name-that-would-run-into-the-next-card")
	testimages.ClassFolders(t, root, []string{"glass", "paper"}, 3)
	ds, clf := untrained(t, root)
	r, err := Run(context.Background(), clf, ds, Options{Batch: 4, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Mistakes) == 0 {
		t.Skip("the untrained model made no mistake")
	}
	page := filepath.Join(t.TempDir(), "m.html")
	if err := r.WriteMistakesHTML(page); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(page)
	html := string(b)
	m := r.Mistakes[0]
	rel, _ := filepath.Rel(root, m.Path)
	if !strings.Contains(html, `<span class="path" title="`+m.Path+`">`+rel+`</span>`) {
		t.Errorf("caption of %s lacks the relative path with the full one on hover", m.Path)
	}
	if n := strings.Count(html, `class="explained"`); n != len(r.Mistakes) {
		t.Errorf("%d of %d cards carry an overlay", n, len(r.Mistakes))
	}
	if strings.Count(html, "data:image/jpeg;base64,") != 2*len(r.Mistakes) {
		t.Error("each card should hold the photo and its overlay")
	}
}
