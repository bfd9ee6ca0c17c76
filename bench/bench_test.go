package bench

import "testing"

func TestModesRun(t *testing.T) {
	for _, mode := range Modes {
		r, err := Run("mobilenet_v2_035", mode, 64, 2, 1, 0, false)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if r.ImgPerS <= 0 {
			t.Errorf("%s: %v img/s", mode, r.ImgPerS)
		}
	}
	if _, err := Run("mobilenet_v2_035", "nope", 64, 2, 1, 0, false); err == nil {
		t.Error("unknown mode accepted")
	}
}
