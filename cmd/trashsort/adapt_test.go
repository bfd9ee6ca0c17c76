package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
)

// adapt aligns by default; a model without stored feature statistics is
// told to give --source (or use adabn), and with --source it is adapted
// and records it; --source with another method is refused.
func TestAdaptAlign(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir)
	photos := filepath.Join(dir, "photos")
	writeColorImages(t, photos, 6, 1)
	source := filepath.Join(dir, "source")
	writeColorImages(t, source, 6, 2)
	out := filepath.Join(dir, "site.safetensors")

	_, err := run(t, "adapt", "--model", model, "--photos", photos, "-o", out)
	if err == nil || !strings.Contains(err.Error(), "--source") || !strings.Contains(err.Error(), model) {
		t.Fatalf("no statistics: error %v, want one naming the model and --source", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused adaptation wrote %s", out)
	}
	if _, err := run(t, "adapt", "--model", model, "--photos", photos, "--source", source, "--method", "adabn", "-o", out); err == nil {
		t.Fatal("--source with --method adabn accepted")
	}
	got, err := run(t, "adapt", "--model", model, "--photos", photos, "--source", source, "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "(align) on 12 photos") {
		t.Fatalf("output %q", got)
	}
	clf, err := classifier.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if a := clf.Meta.Adapted; len(a) != 1 || a[0].Method != "align" {
		t.Fatalf("recorded %+v", a)
	}
	if _, _, ok := clf.SourceFeatureStats(); !ok || clf.Meta.SourceFeatures.Split != "source" {
		t.Fatalf("source statistics %+v", clf.Meta.SourceFeatures)
	}
	// The adapted file now aligns again without --source.
	if _, err := run(t, "adapt", "--model", out, "--photos", photos, "-o", filepath.Join(dir, "again.safetensors")); err != nil {
		t.Fatal(err)
	}
}
