package models

import (
	"encoding/hex"
	"net/url"
	"testing"
)

// TestWeightPins: every weight file is fetched over https, and its pins
// are well formed, so that a typo cannot turn a check off or fail every
// download.
func TestWeightPins(t *testing.T) {
	hexOf := func(s string, n int) bool {
		b, err := hex.DecodeString(s)
		return err == nil && len(b) == n
	}
	for _, name := range Names() {
		w := registry[name].NoTop
		checks := []struct {
			what string
			ok   bool
		}{
			{"md5 is empty or 32 hex digits", w.MD5 == "" || hexOf(w.MD5, 16)},
			{"sha256 is empty or 64 hex digits", w.SHA256 == "" || hexOf(w.SHA256, 32)},
			{"size is not negative", w.Size >= 0},
		}
		if u, err := url.Parse(w.URL); err != nil || u.Scheme != "https" {
			t.Errorf("%s: URL %q is not https", name, w.URL)
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%s: %s (%+v)", name, c.what, w)
			}
		}
	}
}
