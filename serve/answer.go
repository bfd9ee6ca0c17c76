package serve

import (
	"strings"

	"trashsort/classifier"
)

// answer is the JSON for one classified image.
type answer struct {
	// Label is the class, or "unsure" when the confidence is below the threshold.
	Label  string `json:"label"`
	Unsure bool   `json:"unsure"`
	// Unknown is set when the model's open-set detector finds the photo to
	// be none of its classes (Label "unknown"); Message then says so.
	Unknown bool   `json:"unknown"`
	Message string `json:"message,omitempty"`
	// Guess is the most probable class, also when unsure.
	Guess         string             `json:"guess"`
	Confidence    float32            `json:"confidence"`
	MinConfidence float64            `json:"min_confidence"`
	Probabilities map[string]float64 `json:"probabilities"`
	Hint          string             `json:"hint,omitempty"`
	Model         string             `json:"model"`
	Batch         int                `json:"batch,omitempty"`
	LatencyMS     float64            `json:"latency_ms"`
	// FeedbackToken, when the server collects corrections, is sent back
	// with a correction of this photo (see Options.FeedbackTokens).
	FeedbackToken string `json:"feedback_token,omitempty"`
	// HeatMap is the Grad-CAM overlay (PNG, base64) when asked for with ?explain=1.
	HeatMap string `json:"heatmap_png,omitempty"`
}

// threshold is the "unsure" threshold in use.
func (s *Server) threshold() float64 { return s.clf.Threshold(s.opts.MinConfidence) }

// newAnswer labels calibrated probabilities.
func (s *Server) newAnswer(probs []float32, unknown bool) answer {
	t := s.threshold()
	label, best := s.clf.Label(probs, t)
	if unknown {
		label = classifier.Unknown
	}
	a := answer{Label: label, Unsure: label == classifier.Unsure, Guess: s.clf.Meta.Classes[best],
		Confidence: probs[best], MinConfidence: t, Probabilities: map[string]float64{}, Model: s.modelID}
	for i, p := range probs {
		a.Probabilities[s.clf.Meta.Classes[i]] = float64(p)
	}
	outcome := "answered"
	switch {
	case unknown:
		outcome = "unknown"
	case a.Unsure:
		outcome = "unsure"
	}
	s.metrics.answers.WithLabelValues(a.Guess, outcome).Inc()
	if unknown {
		a.Unknown = true
		a.Message = "not one of " + strings.Join(s.clf.Meta.Classes, ", ") + ": retake the photo or use general waste"
	} else if !a.Unsure {
		a.Hint = s.opts.Hints[label]
	}
	return a
}
