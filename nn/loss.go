package nn

import (
	"fmt"
	"math"

	"trashsort/tensor"
)

// CategoricalCrossentropy is Keras' categorical cross-entropy on softmax
// probabilities, computed in the fused, stable form: the gradient it returns
// is with respect to the logits, (p - y) * w / N.
type CategoricalCrossentropy struct {
	// LabelSmoothing mixes the one-hot target with the uniform distribution:
	// y = y*(1-s) + s/K, as Keras' label_smoothing.
	LabelSmoothing float32
	// ClassWeights, when set, weighs each example by its class's weight
	// (Keras' class_weight); the loss is sum(w_i * ce_i) / N.
	ClassWeights []float32
}

// Compute returns the mean loss over the batch and the gradient with respect
// to the logits, for probabilities probs [N, K] and integer labels.
func (l CategoricalCrossentropy) Compute(probs *tensor.Tensor, labels []int) (float64, *tensor.Tensor, error) {
	if len(probs.Shape) != 2 || probs.Shape[0] != len(labels) {
		return 0, nil, fmt.Errorf("loss: probabilities %v do not match %d labels", probs.Shape, len(labels))
	}
	n, k := probs.Shape[0], probs.Shape[1]
	if l.ClassWeights != nil && len(l.ClassWeights) != k {
		return 0, nil, fmt.Errorf("loss: %d class weights for %d classes", len(l.ClassWeights), k)
	}
	grad := tensor.New(n, k)
	const eps = 1e-7
	var total float64
	for i, y := range labels {
		if y < 0 || y >= k {
			return 0, nil, fmt.Errorf("loss: label %d outside [0, %d)", y, k)
		}
		w := float32(1)
		if l.ClassWeights != nil {
			w = l.ClassWeights[y]
		}
		var ce float64
		for c := 0; c < k; c++ {
			t := l.LabelSmoothing / float32(k)
			if c == y {
				t += 1 - l.LabelSmoothing
			}
			p := probs.Data[i*k+c]
			if t > 0 {
				ce -= float64(t) * math.Log(math.Min(math.Max(float64(p), eps), 1-eps))
			}
			grad.Data[i*k+c] = (p - t) * w / float32(n)
		}
		total += float64(w) * ce
	}
	return total / float64(n), grad, nil
}
