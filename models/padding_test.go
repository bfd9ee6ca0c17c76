package models

import (
	"testing"

	"trashsort/tensor"
)

// TestCorrectPadIsSamePadding checks that ZeroPadding2D(correct_pad) and a
// "valid" stride-2 convolution give TensorFlow's "same" output size and
// the same taps: the padding before equals SAME's.
func TestCorrectPadIsSamePadding(t *testing.T) {
	for _, k := range []int{3, 5} {
		for h := 7; h <= 120; h++ {
			top, bottom, _, _ := correctPad(h, h, k)
			out, before, _ := tensor.SamePad(h, k, 2)
			valid := (h+top+bottom-k)/2 + 1
			if valid != out || top != before {
				t.Errorf("k=%d h=%d: padding (%d, %d) gives %d outputs from offset %d; SAME gives %d from %d", k, h, top, bottom, valid, top, out, before)
			}
		}
	}
}
