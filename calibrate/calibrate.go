// Package calibrate makes a classifier's confidence mean what it says:
// temperature scaling fitted on held-out predictions (Guo et al. 2017),
// expected calibration error and reliability bins, and a confidence
// threshold below which the answer is "unsure", with the risk-coverage
// curve it is chosen from.
//
// Everything works on probabilities (rows of k values that sum to 1) rather
// than logits: softmax(log(p)/T) equals softmax(z/T) for p = softmax(z), so
// a model that ends in softmax can be calibrated without changing it.
package calibrate

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Calibration is what a model file stores about its calibration, measured
// on the validation split it was fitted on.
type Calibration struct {
	// Temperature divides the logits (1 leaves the model unchanged).
	Temperature float64 `json:"temperature"`
	// MinConfidence is the calibrated confidence below which the answer is "unsure".
	MinConfidence float64 `json:"min_confidence"`
	// TargetAccuracy is the accuracy on the answered part MinConfidence was
	// chosen for (by Fit; 0 for a threshold only measured, see Measure).
	TargetAccuracy float64 `json:"target_accuracy,omitempty"`
	// ECEBefore and ECEAfter are the expected calibration errors (15 bins)
	// before and after temperature scaling.
	ECEBefore float64 `json:"ece_before"`
	ECEAfter  float64 `json:"ece_after"`
	// Coverage is the share of the Images (the validation split's, for a
	// fitted calibration) answered at MinConfidence, AnsweredAccuracy the
	// accuracy on them.
	Coverage         float64 `json:"coverage"`
	AnsweredAccuracy float64 `json:"answered_accuracy"`
	Images           int     `json:"images"`
}

// Bins is the number of equal-width confidence bins of ECE and the reliability diagram.
const Bins = 15

// DefaultTargetAccuracy is the accuracy on answered images the default threshold aims for.
const DefaultTargetAccuracy = 0.95

// MinCoverage is the smallest share of validation images the chosen
// threshold still answers; a target that would answer fewer is given up
// for the threshold that answers this share.
const MinCoverage = 0.5

// check validates probs as rows of k values for len(labels) images.
func check(probs []float32, labels []int, k int) error {
	if k < 2 {
		return fmt.Errorf("calibrate: %d classes, need at least 2", k)
	}
	if len(labels) == 0 {
		return errors.New("calibrate: no predictions")
	}
	if len(probs) != len(labels)*k {
		return fmt.Errorf("calibrate: %d probabilities for %d images of %d classes", len(probs), len(labels), k)
	}
	for _, y := range labels {
		if y < 0 || y >= k {
			return fmt.Errorf("calibrate: label %d outside [0, %d)", y, k)
		}
	}
	return nil
}

// logFloor keeps log(p) finite for probabilities that underflowed to 0.
const logFloor = 1e-30

// Scale returns the probabilities with temperature T applied:
// softmax(log(p)/T) row by row. probs is not modified.
func Scale(probs []float32, k int, T float64) []float32 {
	out := make([]float32, len(probs))
	row := make([]float64, k)
	for i := 0; i+k <= len(probs); i += k {
		scaleRow(probs[i:i+k], T, row)
		for j, v := range row {
			out[i+j] = float32(v)
		}
	}
	return out
}

// scaleRow writes softmax(log(p)/T) into out.
func scaleRow(p []float32, T float64, out []float64) {
	m := math.Inf(-1)
	for j, v := range p {
		out[j] = math.Log(math.Max(float64(v), logFloor)) / T
		m = math.Max(m, out[j])
	}
	var s float64
	for j := range out {
		out[j] = math.Exp(out[j] - m)
		s += out[j]
	}
	for j := range out {
		out[j] /= s
	}
}

// NLL is the mean negative log-likelihood of the labels under probs scaled by T.
func NLL(probs []float32, labels []int, k int, T float64) float64 {
	var sum float64
	for i, y := range labels {
		p := probs[i*k : (i+1)*k]
		m := math.Inf(-1)
		for _, v := range p {
			m = math.Max(m, math.Log(math.Max(float64(v), logFloor))/T)
		}
		var s float64
		for _, v := range p {
			s += math.Exp(math.Log(math.Max(float64(v), logFloor))/T - m)
		}
		sum += -(math.Log(math.Max(float64(p[y]), logFloor))/T - m - math.Log(s))
	}
	return sum / float64(len(labels))
}

// FitTemperature finds the T in [0.05, 20] that minimizes the NLL of the
// labels (golden-section search on log T; the NLL is convex in 1/T).
func FitTemperature(probs []float32, labels []int, k int) (float64, error) {
	if err := check(probs, labels, k); err != nil {
		return 0, err
	}
	f := func(lt float64) float64 { return NLL(probs, labels, k, math.Exp(lt)) }
	return math.Exp(GoldenSection(f, math.Log(0.05), math.Log(20), 1e-5)), nil
}

// GoldenSection returns the middle of the interval, narrowed to tol, in
// which the golden-section search places the minimum of f over [lo, hi]
// (f unimodal there, as the NLL of a temperature is on its logarithm).
func GoldenSection(f func(float64) float64, lo, hi, tol float64) float64 {
	g := (math.Sqrt(5) - 1) / 2
	a, b := hi-g*(hi-lo), lo+g*(hi-lo)
	fa, fb := f(a), f(b)
	for hi-lo > tol {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - g*(hi-lo)
			fa = f(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + g*(hi-lo)
			fb = f(b)
		}
	}
	return (lo + hi) / 2
}

// Bin is one confidence bin of a reliability diagram.
type Bin struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Count      int     `json:"count"`
	Confidence float64 `json:"confidence"` // mean top-1 confidence in the bin
	Accuracy   float64 `json:"accuracy"`   // share of correct top-1 answers in the bin
}

// top returns the top-1 class and its probability.
func top(p []float32) (int, float64) {
	best := 0
	for j, v := range p {
		if v > p[best] {
			best = j
		}
	}
	return best, float64(p[best])
}

// Reliability sorts the top-1 answers into n equal-width confidence bins.
func Reliability(probs []float32, labels []int, k, n int) []Bin {
	bins := make([]Bin, n)
	for b := range bins {
		bins[b].Lo, bins[b].Hi = float64(b)/float64(n), float64(b+1)/float64(n)
	}
	for i, y := range labels {
		c, conf := top(probs[i*k : (i+1)*k])
		b := min(int(conf*float64(n)), n-1)
		bins[b].Count++
		bins[b].Confidence += conf
		if c == y {
			bins[b].Accuracy++
		}
	}
	for b := range bins {
		if bins[b].Count > 0 {
			bins[b].Confidence /= float64(bins[b].Count)
			bins[b].Accuracy /= float64(bins[b].Count)
		}
	}
	return bins
}

// ECE is the expected calibration error: the count-weighted mean gap
// between confidence and accuracy over Bins equal-width bins.
func ECE(probs []float32, labels []int, k int) float64 {
	var e float64
	for _, b := range Reliability(probs, labels, k, Bins) {
		e += float64(b.Count) * math.Abs(b.Accuracy-b.Confidence)
	}
	return e / float64(len(labels))
}

// Point is one threshold of a risk-coverage curve.
type Point struct {
	Threshold float64 `json:"threshold"`
	Coverage  float64 `json:"coverage"` // share of images answered (confidence >= Threshold)
	Accuracy  float64 `json:"accuracy"` // accuracy on the answered images
}

// RiskCoverage returns one point per distinct confidence, from the highest
// threshold (fewest answers) to the lowest (all answered).
func RiskCoverage(probs []float32, labels []int, k int) []Point {
	type ans struct {
		conf    float64
		correct bool
	}
	as := make([]ans, len(labels))
	for i, y := range labels {
		c, conf := top(probs[i*k : (i+1)*k])
		as[i] = ans{conf, c == y}
	}
	sort.Slice(as, func(i, j int) bool { return as[i].conf > as[j].conf })
	var pts []Point
	correct := 0
	for i, a := range as {
		if a.correct {
			correct++
		}
		if i+1 < len(as) && as[i+1].conf == a.conf {
			continue
		}
		pts = append(pts, Point{Threshold: a.conf, Coverage: float64(i+1) / float64(len(as)), Accuracy: float64(correct) / float64(i+1)})
	}
	return pts
}

// At returns the coverage and the accuracy on the answered part at threshold t.
func At(probs []float32, labels []int, k int, t float64) (coverage, accuracy float64) {
	answered, correct := 0, 0
	for i, y := range labels {
		c, conf := top(probs[i*k : (i+1)*k])
		if conf >= t {
			answered++
			if c == y {
				correct++
			}
		}
	}
	if answered > 0 {
		accuracy = float64(correct) / float64(answered)
	}
	return float64(answered) / float64(len(labels)), accuracy
}

// ChooseThreshold picks the lowest confidence threshold at which the
// answered images reach target accuracy, as long as it still answers at
// least MinCoverage of them; otherwise the threshold that answers
// MinCoverage. A model that reaches the target on every image gets 0
// (never unsure).
func ChooseThreshold(probs []float32, labels []int, k int, target float64) float64 {
	pts := RiskCoverage(probs, labels, k)
	// The lowest threshold reaching the target: scan from full coverage down.
	for i := len(pts) - 1; i >= 0; i-- {
		p := pts[i]
		if p.Coverage < MinCoverage {
			break
		}
		if p.Accuracy >= target {
			if i == len(pts)-1 {
				return 0
			}
			return p.Threshold
		}
	}
	for _, p := range pts {
		if p.Coverage >= MinCoverage {
			return p.Threshold
		}
	}
	return 0
}

// Fit fits the temperature on held-out predictions (raw model
// probabilities) and chooses the threshold for target accuracy (0: DefaultTargetAccuracy).
func Fit(probs []float32, labels []int, k int, target float64) (Calibration, error) {
	if target == 0 {
		target = DefaultTargetAccuracy
	}
	T, err := FitTemperature(probs, labels, k)
	if err != nil {
		return Calibration{}, err
	}
	c := Measure(probs, labels, k, T, ChooseThreshold(Scale(probs, k, T), labels, k, target))
	c.TargetAccuracy = target
	return c, nil
}

// Measure is how well raw model probabilities (rows of k) with their
// labels are calibrated at temperature T, and what the threshold costs
// and gains there: the ECE before and after T, the share of the images
// answered at threshold and the accuracy on them. Fit measures what it
// fits; evaluation measures a model's stored calibration on other data.
func Measure(probs []float32, labels []int, k int, T, threshold float64) Calibration {
	scaled := Scale(probs, k, T)
	c := Calibration{Temperature: T, MinConfidence: threshold, Images: len(labels),
		ECEBefore: ECE(probs, labels, k), ECEAfter: ECE(scaled, labels, k)}
	c.Coverage, c.AnsweredAccuracy = At(scaled, labels, k, threshold)
	return c
}
