// Package evaluate scores a classifier on a labelled dataset: accuracy,
// per-class precision, recall and F1, macro and weighted averages, a
// confusion matrix (text and PNG heat map) and the most confident mistakes
// (an HTML page with thumbnails).
package evaluate

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/predict"
	"trashsort/tensor"
)

// Options tune an evaluation.
type Options struct {
	Batch   int
	Workers int
	// TTA averages the predictions for each image and its horizontal flip.
	TTA bool
	// Mistakes is how many confident mistakes to keep (default 24).
	Mistakes int
	// Explain adds Grad-CAM overlays of the predicted class to the mistakes page.
	Explain bool
	// MinConfidence is the "unsure" threshold on calibrated confidence:
	// 0 is the model's own, a negative value none.
	MinConfidence float64
	// Unknown, when set, holds photos of none of the model's classes: the
	// report then measures how well each open-set score tells them from
	// the dataset's photos (Report.Unknown).
	Unknown *data.Dataset
	// OpenSetFit, when set with Unknown, is the labelled data (the
	// model's training split) whose pooled features fit the Mahalanobis
	// score's class means and covariance.
	OpenSetFit *data.Dataset
}

// ClassMetrics are one class's scores.
type ClassMetrics struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Mistake is a misclassified image.
type Mistake struct {
	Path       string  `json:"path"`
	True       string  `json:"true"`
	Predicted  string  `json:"predicted"`
	Confidence float64 `json:"confidence"`
	// overlay is the Grad-CAM overlay of the predicted class (a data URI), when explained.
	overlay string
}

// Report is the result of an evaluation.
type Report struct {
	Model   string `json:"model"`
	Data    string `json:"data"`
	Images  int    `json:"images"`
	Skipped int    `json:"skipped"`
	TTA     bool   `json:"tta"`
	// TestSizes are the input sizes whose predictions were averaged (the
	// lead model's, for an ensemble).
	TestSizes []int          `json:"test_sizes"`
	Accuracy  float64        `json:"accuracy"`
	Classes   []ClassMetrics `json:"classes"`
	Macro     ClassMetrics   `json:"macro_avg"`
	Weighted  ClassMetrics   `json:"weighted_avg"`
	Confusion [][]int        `json:"confusion"` // [true][predicted]
	Mistakes  []Mistake      `json:"mistakes"`
	// Calibration measures the confidences and the "unsure" threshold.
	Calibration Calibration `json:"calibration"`
	// Absent lists the model's classes the data has no photos of; the
	// scores are over the classes present (a site without glass).
	Absent []string `json:"absent,omitempty"`
	// Unknown measures telling photos of none of the classes from the
	// data's (Options.Unknown).
	Unknown *UnknownReport `json:"unknown,omitempty"`
}

// Run evaluates clf on ds. ds's classes must be the model's (by name);
// a class without photos is reported in Report.Absent. It changes nothing
// in clf: Score does the same with predictions the caller already has (to
// refit the calibration on them first, see classifier.Recalibrate).
func Run(ctx context.Context, clf *classifier.Classifier, ds *data.Dataset, o Options) (*Report, error) {
	ds, err := withModelClasses(clf, ds)
	if err != nil {
		return nil, err
	}
	pr, err := predict.Dataset(ctx, clf, ds, o.predict(o.Unknown != nil && clf.Members() == 1))
	if err != nil {
		return nil, err
	}
	return Score(ctx, clf, ds, pr, o)
}

// withModelClasses returns ds read again with the model's classes, in the
// model's order, when its own differ, so that labels index the model's.
func withModelClasses(clf *classifier.Classifier, ds *data.Dataset) (*data.Dataset, error) {
	if strings.Join(ds.Classes, ",") == strings.Join(clf.Meta.Classes, ",") {
		return ds, nil
	}
	d2, err := data.FromFolder(ds.Root, clf.Meta.Classes)
	if err != nil {
		return nil, fmt.Errorf("evaluate: data classes %v differ from the model's %v: %w", ds.Classes, clf.Meta.Classes, err)
	}
	return d2, nil
}

// predict is the pass over a dataset these options ask for.
func (o Options) predict(outputs bool) predict.Options {
	return predict.Options{Batch: o.Batch, Workers: o.Workers, TTA: o.TTA, Outputs: outputs}
}

// Score is Run on predictions of ds already made (predict.Dataset with
// o's batch and TTA; with o.Unknown, with Outputs for a single model).
func Score(ctx context.Context, clf *classifier.Classifier, ds *data.Dataset, pr *predict.Result, o Options) (*Report, error) {
	if o.Mistakes == 0 {
		o.Mistakes = 24
	}
	if pr.Images() == 0 {
		return nil, fmt.Errorf("evaluate: no readable images in %s", ds.Root)
	}
	k := len(clf.Meta.Classes)
	r := &Report{Data: ds.Root, TTA: o.TTA, TestSizes: clf.TestSizes(), Confusion: make([][]int, k), Skipped: pr.Skipped}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	raw, labels, paths := pr.Probs, pr.Labels, pr.Paths
	var mistakes []Mistake
	for i, y := range labels {
		row := append([]float32(nil), raw[i*k:(i+1)*k]...)
		clf.Calibrate(row)
		pred := tensor.Argmax(row)
		r.Confusion[y][pred]++
		r.Images++
		if pred != y {
			mistakes = append(mistakes, Mistake{Path: paths[i], True: clf.Meta.Classes[y], Predicted: clf.Meta.Classes[pred], Confidence: float64(row[pred])})
		}
	}
	sort.Slice(mistakes, func(i, j int) bool { return mistakes[i].Confidence > mistakes[j].Confidence })
	r.Mistakes = mistakes[:min(len(mistakes), o.Mistakes)]
	if o.Explain {
		if err := explainMistakes(clf, r.Mistakes); err != nil {
			return nil, err
		}
	}
	r.score(clf.Meta.Classes)
	r.Calibration = measureCalibration(raw, labels, k, clf.Temperature(), clf.Threshold(o.MinConfidence))
	if o.Unknown != nil {
		u, err := scoreUnknown(ctx, clf, pr, o)
		if err != nil {
			return nil, err
		}
		r.Unknown = u
	}
	return r, nil
}

// Predict returns calibrated probabilities for raw images (the same images
// at one or more sizes, see classifier.InputSizes), averaging with the
// horizontal flip when tta is set.
func Predict(clf *classifier.Classifier, v classifier.Views, tta bool) (*tensor.Tensor, error) {
	p, err := predict.Probs(clf, v, tta)
	if err != nil {
		return nil, err
	}
	clf.Calibrate(p.Data)
	return p, nil
}

// PredictRaw is Predict without the temperature (predict.Probs).
func PredictRaw(clf *classifier.Classifier, v classifier.Views, tta bool) (*tensor.Tensor, error) {
	return predict.Probs(clf, v, tta)
}

func (r *Report) score(classes []string) {
	k := len(classes)
	correct := 0
	present := 0
	r.Absent = nil
	for c := 0; c < k; c++ {
		n := 0
		for j := 0; j < k; j++ {
			n += r.Confusion[c][j]
		}
		if n > 0 {
			present++
		} else {
			r.Absent = append(r.Absent, classes[c])
		}
	}
	var macro, weighted ClassMetrics
	for c := 0; c < k; c++ {
		tp := r.Confusion[c][c]
		correct += tp
		support, predicted := 0, 0
		for j := 0; j < k; j++ {
			support += r.Confusion[c][j]
			predicted += r.Confusion[j][c]
		}
		m := ClassMetrics{Class: classes[c], Support: support}
		if predicted > 0 {
			m.Precision = float64(tp) / float64(predicted)
		}
		if support > 0 {
			m.Recall = float64(tp) / float64(support)
		}
		if m.Precision+m.Recall > 0 {
			m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
		}
		r.Classes = append(r.Classes, m)
		if support == 0 {
			continue // an absent class has no recall to average
		}
		macro.Precision += m.Precision / float64(present)
		macro.Recall += m.Recall / float64(present)
		macro.F1 += m.F1 / float64(present)
		w := float64(support) / float64(r.Images)
		weighted.Precision += m.Precision * w
		weighted.Recall += m.Recall * w
		weighted.F1 += m.F1 * w
	}
	macro.Class, weighted.Class = "macro avg", "weighted avg"
	macro.Support, weighted.Support = r.Images, r.Images
	r.Macro, r.Weighted = macro, weighted
	r.Accuracy = float64(correct) / float64(r.Images)
}

// WriteCSV writes the per-class scores as CSV (RFC 4180): the header
// class,precision,recall,f1,support, a row per class, the macro avg and
// weighted avg rows, and an accuracy row placed as scikit-learn's
// classification_report places it (the accuracy in the f1 column, the
// image count as support, precision and recall empty).
func (r *Report) WriteCSV(w io.Writer) error {
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	cw := csv.NewWriter(w)
	cw.Write([]string{"class", "precision", "recall", "f1", "support"})
	for _, m := range append(append([]ClassMetrics{}, r.Classes...), r.Macro, r.Weighted) {
		cw.Write([]string{m.Class, num(m.Precision), num(m.Recall), num(m.F1), strconv.Itoa(m.Support)})
	}
	cw.Write([]string{"accuracy", "", "", num(r.Accuracy), strconv.Itoa(r.Images)})
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("evaluate: writing CSV: %w", err)
	}
	return nil
}

// WriteText writes the report as scikit-learn's classification_report
// does, followed by the confusion matrix.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tprecision\trecall\tf1-score\tsupport\t\n")
	for _, m := range append(append([]ClassMetrics{}, r.Classes...), r.Macro, r.Weighted) {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%d\t\n", m.Class, m.Precision, m.Recall, m.F1, m.Support)
	}
	fmt.Fprintf(tw, "accuracy\t\t\t%.4f\t%d\t\n", r.Accuracy, r.Images)
	tw.Flush()
	var over []string
	if len(r.TestSizes) > 1 {
		over = append(over, fmt.Sprintf("input sizes %v", r.TestSizes))
	}
	if r.TTA {
		over = append(over, "the horizontal flip")
	}
	if len(over) > 0 {
		fmt.Fprintf(w, "predictions: averaged over %s\n", strings.Join(over, " and "))
	}
	c := r.Calibration
	fmt.Fprintf(w, "\ncalibration: temperature %.3f; expected calibration error %.4f before, %.4f after (%d bins)\n", c.Temperature, c.ECEBefore, c.ECEAfter, calibrate.Bins)
	fmt.Fprintf(w, "unsure below %.3f confidence: answers %.1f%% of the images (%d of %d), %.2f%% accuracy on them\n",
		c.MinConfidence, 100*c.Coverage, c.Answered, r.Images, 100*c.AnsweredAccuracy)
	if len(r.Absent) > 0 {
		fmt.Fprintf(w, "absent from the data (scored over the other classes): %s\n", strings.Join(r.Absent, ", "))
	}
	if u := r.Unknown; u != nil {
		fmt.Fprintf(w, "\nnone of the classes: %d photos in %s against the %d above\n", u.Images, u.Data, u.Known)
		for _, s := range u.Scores {
			fmt.Fprintf(w, "  %-12s AUROC %.4f, unknown photos kept at 95%% of in-class kept: %.1f%%\n", s.Score, s.AUROC, 100*s.FPR95)
		}
		if d := u.Detector; d != nil {
			fmt.Fprintf(w, "  the model's detector (threshold %.1f): keeps %.1f%% of the in-class photos, refuses %.1f%% of the others\n", d.Threshold, 100*d.KnownKeptShare, 100*d.UnknownRefusedShare)
		}
	}
	if err := r.writeConfusion(w, "confusion matrix (rows: true, columns: predicted)", func(v, _ int) string { return fmt.Sprint(v) }); err != nil {
		return err
	}
	return r.writeConfusion(w, "row-normalized (% of each true class)", func(v, total int) string {
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(v) / float64(total)
		}
		return fmt.Sprintf("%.1f", pct)
	})
}

// writeConfusion writes the confusion matrix under title, a class per row
// and column, each entry as cell(count, the row's total) gives it.
func (r *Report) writeConfusion(w io.Writer, title string, cell func(v, total int) string) error {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t")
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%s\t", c.Class)
	}
	fmt.Fprintln(tw)
	for i, row := range r.Confusion {
		fmt.Fprintf(tw, "%s\t", r.Classes[i].Class)
		total := 0
		for _, v := range row {
			total += v
		}
		for _, v := range row {
			fmt.Fprintf(tw, "%s\t", cell(v, total))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
