package evaluate

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/testimages"
	"trashsort/tensor"
)

func TestScoresMatchHandComputation(t *testing.T) {
	r := &Report{Confusion: [][]int{{5, 1, 0}, {2, 3, 1}, {0, 0, 4}}, Images: 16}
	r.score([]string{"a", "b", "c"})
	// a: tp 5, predicted 7, support 6.
	a := r.Classes[0]
	if math.Abs(a.Precision-5.0/7) > 1e-9 || math.Abs(a.Recall-5.0/6) > 1e-9 || a.Support != 6 {
		t.Errorf("class a %+v", a)
	}
	if math.Abs(r.Accuracy-12.0/16) > 1e-9 {
		t.Errorf("accuracy %g", r.Accuracy)
	}
	wantMacroR := (5.0/6 + 3.0/6 + 1) / 3
	if math.Abs(r.Macro.Recall-wantMacroR) > 1e-9 {
		t.Errorf("macro recall %g, want %g", r.Macro.Recall, wantMacroR)
	}
	// Weighted recall equals accuracy.
	if math.Abs(r.Weighted.Recall-r.Accuracy) > 1e-9 {
		t.Errorf("weighted recall %g != accuracy %g", r.Weighted.Recall, r.Accuracy)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	// Row a of the confusion matrix {5, 1, 0} is 83.3% and 16.7% of its 6 images.
	if !strings.Contains(b.String(), "row-normalized") || !strings.Contains(b.String(), "83.3") || !strings.Contains(b.String(), "16.7") {
		t.Error(b.String())
	}
	if !strings.Contains(b.String(), "weighted avg") || !strings.Contains(b.String(), "confusion matrix") {
		t.Error(b.String())
	}
}

// TestWriteCSV: a header, one row per class (a name that needs quoting
// included), macro avg, weighted avg and accuracy, as encoding/csv reads it.
func TestWriteCSV(t *testing.T) {
	r := &Report{Confusion: [][]int{{5, 1, 0}, {2, 3, 1}, {0, 0, 4}}, Images: 16}
	r.score([]string{"a", `b, "the second"`, "c"})
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	want := [][]string{
		{"class", "precision", "recall", "f1", "support"},
		{"a", "0.7143", "0.8333", "0.7692", "6"},
		{`b, "the second"`, "0.7500", "0.5000", "0.6000", "6"},
		{"c", "0.8000", "1.0000", "0.8889", "4"},
		{"macro avg", "0.7548", "0.7778", "0.7527", "16"},
		{"weighted avg", "0.7491", "0.7500", "0.7357", "16"},
		{"accuracy", "", "", "0.7500", "16"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), b.String())
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}
}

// untrained reads the class folders at root and makes an untrained
// MobileNetV2 0.35 classifier at 64 px for their classes.
func untrained(t *testing.T, root string) (*data.Dataset, *classifier.Classifier) {
	t.Helper()
	ds, err := data.FromFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: ds.Classes, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return ds, clf
}

func TestRunWritesReports(t *testing.T) {
	root := t.TempDir()
	testimages.ClassFolders(t, root, []string{"glass", "paper"}, 3)
	os.WriteFile(filepath.Join(root, "paper", "broken.jpg"), []byte("nope"), 0o644)
	ds, clf := untrained(t, root)
	for _, tta := range []bool{false, true} {
		r, err := Run(context.Background(), clf, ds, Options{Batch: 4, TTA: tta})
		if err != nil {
			t.Fatal(err)
		}
		if r.Images != 6 || r.Skipped != 1 {
			t.Errorf("images %d skipped %d", r.Images, r.Skipped)
		}
		total := 0
		for _, row := range r.Confusion {
			for _, v := range row {
				total += v
			}
		}
		if total != 6 || len(r.Mistakes) != 6-int(math.Round(r.Accuracy*6)) {
			t.Errorf("confusion total %d, mistakes %d, accuracy %g", total, len(r.Mistakes), r.Accuracy)
		}
		dir := t.TempDir()
		if err := r.WriteConfusionPNG(filepath.Join(dir, "c.png")); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(filepath.Join(dir, "c.png"))
		if _, err := png.Decode(f); err != nil {
			t.Error(err)
		}
		f.Close()
		if err := r.WriteMistakesHTML(filepath.Join(dir, "m.html")); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Error(err)
		}
	}
}

// TestRunAtTestSizes: a model with several test sizes is evaluated on
// each image decoded at every size, and the report says which sizes.
func TestRunAtTestSizes(t *testing.T) {
	root := t.TempDir()
	testimages.ClassFolders(t, root, []string{"glass", "paper"}, 3)
	ds, clf := untrained(t, root)
	if err := clf.SetTestSizes([]int{64, 96}); err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), clf, ds, Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Images != 6 || !slices.Equal(r.TestSizes, []int{64, 96}) {
		t.Fatalf("images %d, test sizes %v; want 6 and [64 96]", r.Images, r.TestSizes)
	}
	// The same predictions by hand: each image at both sizes from the photo.
	l, err := data.NewLoader(ds, data.Config{Size: 64, Sizes: []int{96}, BatchSize: 6})
	if err != nil {
		t.Fatal(err)
	}
	ch, errf := l.Epoch(context.Background(), 0)
	b := <-ch
	for range ch {
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	p, err := Predict(clf, b.Images(), false)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, y := range b.Labels {
		if tensor.Argmax(p.Data[i*2:(i+1)*2]) == y {
			correct++
		}
	}
	if want := float64(correct) / 6; math.Abs(r.Accuracy-want) > 1e-12 {
		t.Errorf("accuracy %g, by hand %g", r.Accuracy, want)
	}
}
