// Package shared locates the read-only test data (TrashNet splits, ImageNet
// weight files, reference activations) that tests and benchmarks use. It
// is found through $TRASHSORT_SHARED, or ../shared beside the module root;
// tests skip with a clear message where it is absent (a fresh clone).
package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the shared folder, or "" when there is none.
func Root() string {
	if d := os.Getenv("TRASHSORT_SHARED"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(dir, "..", "shared")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return filepath.Clean(cand)
			}
			// A nested module (beam/) looks on from the main one.
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path returns the path of rel inside the shared folder, skipping the test
// when it is absent.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	root := Root()
	if root == "" {
		tb.Skipf("shared test data not found: set TRASHSORT_SHARED or place it at ../shared (needs %s)", rel)
	}
	p := filepath.Join(root, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared test data %s not found: %v", p, err)
	}
	return p
}
