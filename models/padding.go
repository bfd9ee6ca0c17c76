package models

// correctPad is keras.applications' imagenet_utils.correct_pad: the zero
// padding (top, bottom, left, right) before a k x k stride-2 "valid"
// convolution that reproduces TensorFlow's "same" padding on an h x w input.
func correctPad(h, w, k int) (top, bottom, left, right int) {
	ah, aw := 1-h%2, 1-w%2
	c := k / 2
	return c - ah, c, c - aw, c
}
