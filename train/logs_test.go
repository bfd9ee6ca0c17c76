package train

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestIntegerTicksAndBestEpoch(t *testing.T) {
	ticks := integerTicks{}.Ticks(0.5, 14.5)
	if len(ticks) != 14 || ticks[0].Value != 1 || ticks[0].Label != "1" || ticks[13].Value != 14 {
		t.Fatalf("ticks %v", ticks)
	}
	for _, tk := range ticks {
		if tk.Value != float64(int(tk.Value)) {
			t.Errorf("tick at %v is not a whole epoch", tk.Value)
		}
	}
	if ts := (integerTicks{}).Ticks(0.5, 40.5); ts[1].Label != "" || ts[4].Label != "5" {
		t.Errorf("40 epochs should label every 4th: %v", ts[:6])
	}
	h := []EpochLog{{Epoch: 1, Stage: 1, ValAcc: 0.5}, {Epoch: 2, Stage: 1, ValAcc: 0.7}, {Epoch: 3, Stage: 2, ValAcc: 0.7}, {Epoch: 4, Stage: 2, ValAcc: 0.6}}
	if b := bestEpoch(h); b.Epoch != 2 {
		t.Errorf("best epoch %d, want 2 (the first of equals)", b.Epoch)
	}
	dir := t.TempDir()
	if err := writeLogs(dir, h); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"loss.png", "accuracy.png"} {
		r, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(r)
		r.Close()
		if err != nil || img.Bounds().Dx() < 600 {
			t.Errorf("%s: %v %v", f, err, img.Bounds())
		}
	}
	if d := os.Getenv("TRASHSORT_SCREENSHOT_DIR"); d != "" {
		writeLogs(d, h)
	}
}
