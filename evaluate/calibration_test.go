package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
	"trashsort/predict"
)

// calibratedUntrained is an untrained model on two small class folders
// with temperature 3 and threshold 0.55.
func calibratedUntrained(t *testing.T) (*data.Dataset, *classifier.Classifier) {
	t.Helper()
	root := t.TempDir()
	testimages.ClassFolders(t, root, []string{"glass", "paper"}, 4)
	ds, clf := untrained(t, root)
	clf.Model.InitWeights(5)
	clf.Meta.Calibration = &calibrate.Calibration{Temperature: 3, MinConfidence: 0.55}
	return ds, clf
}

func TestRunMeasuresCalibration(t *testing.T) {
	ds, clf := calibratedUntrained(t)
	cases := []struct {
		option, want float64
	}{{0, 0.55}, {0.7, 0.7}, {-1, 0}}
	for _, c := range cases {
		r, err := Run(context.Background(), clf, ds, Options{Batch: 4, MinConfidence: c.option})
		if err != nil {
			t.Fatal(err)
		}
		cal := r.Calibration
		if cal.MinConfidence != c.want || cal.Temperature != 3 {
			t.Errorf("option %v: threshold %v temperature %v, want %v and 3", c.option, cal.MinConfidence, cal.Temperature, c.want)
		}
		if cal.Answered > r.Images || math.Abs(cal.Coverage*float64(r.Images)-float64(cal.Answered)) > 1e-9 {
			t.Errorf("answered %d of %d, coverage %v", cal.Answered, r.Images, cal.Coverage)
		}
		if c.want == 0 && (cal.Coverage != 1 || math.Abs(cal.AnsweredAccuracy-r.Accuracy) > 1e-9) {
			t.Errorf("no threshold: coverage %v answered accuracy %v accuracy %v", cal.Coverage, cal.AnsweredAccuracy, r.Accuracy)
		}
		n := 0
		for _, b := range cal.After {
			n += b.Count
		}
		if n != r.Images || len(cal.RiskCoverage) == 0 || cal.RiskCoverage[len(cal.RiskCoverage)-1].Coverage != 1 {
			t.Errorf("bins hold %d images of %d; risk-coverage %v", n, r.Images, cal.RiskCoverage)
		}
		// Mistakes carry calibrated confidences: temperature 3 on 2 classes keeps them near 0.5.
		for _, m := range r.Mistakes {
			if m.Confidence < 0.5 || m.Confidence > 0.9 {
				t.Errorf("mistake confidence %v not calibrated", m.Confidence)
			}
		}
		var b bytes.Buffer
		r.WriteText(&b)
		if !strings.Contains(b.String(), "expected calibration error") || !strings.Contains(b.String(), "unsure below") {
			t.Errorf("text report lacks calibration:\n%s", b.String())
		}
		dir := t.TempDir()
		for _, w := range []struct {
			name  string
			write func(string) error
		}{{"reliability.png", r.WriteReliabilityPNG}, {"risk_coverage.png", r.WriteRiskCoveragePNG}} {
			p := filepath.Join(dir, w.name)
			if err := w.write(p); err != nil {
				t.Fatal(err)
			}
			f, _ := os.Open(p)
			if _, err := png.Decode(f); err != nil {
				t.Errorf("%s: %v", w.name, err)
			}
			f.Close()
		}
	}
}

// TestRunRefitsCalibration: with Refit, the model's temperature and
// threshold become the fit on the evaluated predictions (what trashsort
// calibrate would store), and the report uses them.
func TestRunRefitsCalibration(t *testing.T) {
	ds, clf := calibratedUntrained(t)
	plain, err := Run(context.Background(), clf, ds, Options{Batch: 4, MinConfidence: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The fit the refit must reproduce, from the uncalibrated predictions.
	var raw []float32
	var labels []int
	l, err := data.NewLoader(ds, data.Config{Size: clf.Meta.Size, BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	ch, errf := l.Epoch(context.Background(), 0)
	for b := range ch {
		p, err := PredictRaw(clf, b.Images(), false)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, p.Data...)
		labels = append(labels, b.Labels...)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	want, err := calibrate.Fit(raw, labels, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Refit on the evaluation's own predictions, then score them.
	pr, err := predict.Dataset(context.Background(), clf, ds, predict.Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clf.Recalibrate(pr.Probs, pr.Labels, 0); err != nil {
		t.Fatal(err)
	}
	r, err := Score(context.Background(), clf, ds, pr, Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	got := clf.Meta.Calibration
	if got.Temperature != want.Temperature || got.MinConfidence != want.MinConfidence || want.Temperature == 3 {
		t.Fatalf("refit temperature %v threshold %v, want %v and %v (not the old 3)", got.Temperature, got.MinConfidence, want.Temperature, want.MinConfidence)
	}
	if r.Calibration.Temperature != want.Temperature || r.Accuracy != plain.Accuracy {
		t.Errorf("report temperature %v accuracy %v; want %v and the unrefit %v", r.Calibration.Temperature, r.Accuracy, want.Temperature, plain.Accuracy)
	}
}

// TestCalibrationJSON holds the report's calibration keys to what they
// were before it embedded calibrate.Calibration: flat, with no target (a
// measured threshold was aimed at nothing).
func TestCalibrationJSON(t *testing.T) {
	b, err := json.Marshal(measureCalibration([]float32{0.9, 0.1, 0.3, 0.7}, []int{0, 0}, 2, 1.5, 0.75))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"temperature", "ece_before", "ece_after", "min_confidence", "answered", "coverage", "answered_accuracy", "reliability_before", "reliability_after", "risk_coverage"} {
		if _, ok := m[key]; !ok {
			t.Errorf("no %q in %s", key, b)
		}
	}
	if _, ok := m["target_accuracy"]; ok {
		t.Errorf("a measured calibration has a target: %s", b)
	}
	if m["temperature"] != 1.5 || m["answered"] != 1.0 || m["coverage"] != 0.5 {
		t.Errorf("temperature, answered, coverage: %v %v %v; want 1.5, 1 and 0.5", m["temperature"], m["answered"], m["coverage"])
	}
}
