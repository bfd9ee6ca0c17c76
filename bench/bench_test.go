package bench

import (
	"strings"
	"testing"
)

func TestModesRun(t *testing.T) {
	for _, mode := range append(Modes, "stage2-cached-bf16") {
		r, err := Run("mobilenet_v2_035", mode, 64, 2, 1, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if r.ImgPerS <= 0 || r.Mode != mode {
			t.Errorf("%s: %v img/s, mode %q", mode, r.ImgPerS, r.Mode)
		}
	}
	if _, err := Run("mobilenet_v2_035", "nope", 64, 2, 1, 0, 0); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want Spec
		ok   bool
	}{
		{"forward", Spec{"forward", false, false}, true},
		{"forward-bf16", Spec{"forward", true, false}, true},
		{"forward-int8", Spec{"forward", false, true}, true},
		{"stage1-int8", Spec{}, false},
		{"stage2-cached", Spec{"stage2-cached", false, false}, true},
		{"stage2-cached-bf16", Spec{"stage2-cached", true, false}, true},
		{"stage1-bf16", Spec{"stage1", true, false}, true},
		{"stage3", Spec{}, false},
		{"-bf16", Spec{}, false},
	} {
		got, err := ParseMode(tc.mode)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseMode(%q) = %+v, %v; want %+v, ok %v", tc.mode, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.Name() != tc.mode {
			t.Errorf("ParseMode(%q).Name() = %q", tc.mode, got.Name())
		}
	}
}

func TestPeerArgs(t *testing.T) {
	for mode, want := range map[string]string{
		"forward":            "--mode forward",
		"forward-bf16":       "--mode forward-bf16",
		"forward-int8":       "--mode forward-int8",
		"stage1":             "--mode stage1",
		"stage2-bf16":        "--mode stage2 --bf16",
		"stage2-cached":      "--mode stage2-cached",
		"stage2-cached-bf16": "--mode stage2-cached --bf16",
	} {
		s, err := ParseMode(mode)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.PeerArgs(), " "); got != want {
			t.Errorf("%s: peer args %q, want %q", mode, got, want)
		}
	}
}
