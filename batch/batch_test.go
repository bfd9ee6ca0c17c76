package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/evaluate"
	"trashsort/internal/shared"
	"trashsort/internal/testimages"
	"trashsort/models"
	"trashsort/tensor"
)

// tinyClassifier is a three-class MobileNetV2 0.35 at 64 px with ImageNet
// weights and a random head: its answers differ from image to image (an
// all-random network answers every image the same), which is all
// agreement needs.
func tinyClassifier(t *testing.T) *classifier.Classifier {
	t.Helper()
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: []string{"glass", "metal", "paper"}, Head: classifier.Head{Units: 8}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := models.LoadKerasBase(clf.Model, w, clf.BaseEnd); err != nil {
		t.Fatal(err)
	}
	return clf
}

// files writes textured JPEGs and PNGs, a corrupt JPEG and an empty file.
func files(t *testing.T) (dir string, good, bad []string) {
	dir = t.TempDir()
	for i, n := range []string{"a.jpg", "b.png", "c.jpg", "d.jpg", "e.png"} {
		p := filepath.Join(dir, n)
		testimages.Textured(t, p, 50+7*i, 40+5*i, i)
		good = append(good, p)
	}
	whole, err := os.ReadFile(good[0])
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range map[string][]byte{"corrupt.jpg": whole[:len(whole)/3], "empty.jpg": nil, "text.jpg": []byte("not an image")} {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		bad = append(bad, p)
	}
	return dir, good, bad
}

func read(t *testing.T, paths []string) []Input {
	var in []Input
	for _, p := range paths {
		b, err := os.ReadFile(p)
		in = append(in, Input{Name: p, Data: b, Err: err})
	}
	return in
}

// TestPredictMatchesPredictPath: the records carry exactly the classes and
// probabilities of predict's path (data.DecodeFile, data.Resize,
// evaluate.Predict over the whole folder in one batch), whatever the batch
// a file is in, and bad files are their own records' errors.
func TestPredictMatchesPredictPath(t *testing.T) {
	clf := tinyClassifier(t)
	_, good, bad := files(t)
	s := clf.Meta.Size
	var xs []float32
	for _, p := range good {
		img, err := data.DecodeFile(p)
		if err != nil {
			t.Fatal(err)
		}
		xs = data.Resize(img, s, s, clf.Meta.Resize).AppendFloats(xs)
	}
	want, err := evaluate.Predict(clf, classifier.Views{s: &tensor.Tensor{Shape: []int{len(good), s, s, 3}, Data: xs}}, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPredictor(clf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := len(clf.Meta.Classes)
	for _, tc := range []struct {
		name  string
		files []string
	}{
		{"good only", good},
		{"bad interleaved", []string{bad[0], good[0], good[1], bad[1], good[2], good[3], good[4], bad[2]}},
		{"one at a time", good[2:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := p.Predict(context.Background(), read(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(tc.files) {
				t.Fatalf("%d records for %d files", len(recs), len(tc.files))
			}
			for i, r := range recs {
				if r.File != tc.files[i] {
					t.Errorf("record %d is for %s, want %s", i, r.File, tc.files[i])
				}
				j := indexOf(good, r.File)
				if j < 0 {
					if r.Error == "" || !strings.Contains(r.Error, r.File) {
						t.Errorf("%s: error %q, want one naming the file", r.File, r.Error)
					}
					continue
				}
				if r.Error != "" {
					t.Errorf("%s: unexpected error %s", r.File, r.Error)
					continue
				}
				for c, name := range clf.Meta.Classes {
					if got, w := r.Probabilities[name], float64(want.Data[j*k+c]); got != w {
						t.Errorf("%s: p(%s) = %v, predict's path gives %v", r.File, name, got, w)
					}
				}
				if j > 0 && r.Probabilities[clf.Meta.Classes[0]] == float64(want.Data[0]) {
					t.Errorf("%s has the first image's probabilities: the model does not look at its input", r.File)
				}
				if r.Confidence != r.Top[0].Probability || r.Guess != r.Top[0].Label || len(r.Top) != 3 {
					t.Errorf("%s: guess %s %v, top %v", r.File, r.Guess, r.Confidence, r.Top)
				}
			}
		})
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestRecordJSON: a record keeps its fields through JSON, the success form
// has predict's keys in predict's order, and the error form only two.
func TestRecordJSON(t *testing.T) {
	ok := Record{File: "x.jpg", Label: classifier.Unsure, Guess: "paper", Confidence: 0.4, Unsure: true,
		Top: []Ranked{{"paper", 0.4}, {"glass", 0.35}}, Probabilities: map[string]float64{"paper": float64(float32(0.4)), "glass": float64(float32(0.35)), "metal": float64(float32(0.25))}}
	for _, tc := range []struct {
		r    Record
		keys string
	}{
		{ok, `{"confidence":0.4,"file":"x.jpg","guess":"paper","label":"unsure","probabilities":{"glass":0.3499999940395355,"metal":0.25,"paper":0.4000000059604645},"top":[{"label":"paper","probability":0.4},{"label":"glass","probability":0.35}],"unknown":false,"unsure":true}`},
		{Record{File: "y.jpg", Error: "y.jpg: corrupt"}, `{"error":"y.jpg: corrupt","file":"y.jpg"}`},
	} {
		b, err := json.Marshal(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.keys {
			t.Errorf("json %s\nwant %s", b, tc.keys)
		}
		var back Record
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(again, b) {
			t.Errorf("round trip %s, want %s", again, b)
		}
	}
}

func TestShard(t *testing.T) {
	names := make([]string, 400)
	for i := range names {
		names[i] = fmt.Sprintf("photos/%03d.jpg", i)
	}
	for _, n := range []int{1, 2, 3, 7} {
		count := make([]int, n)
		for _, name := range names {
			s := Shard(name, n)
			if s < 0 || s >= n || s != Shard(name, n) {
				t.Fatalf("Shard(%s, %d) = %d", name, n, s)
			}
			count[s]++
		}
		for i, c := range count {
			if c < len(names)/n/2 {
				t.Errorf("n=%d: shard %d holds %d of %d names", n, i, c, len(names))
			}
		}
	}
	for _, tc := range []struct {
		in   string
		i, n int
		ok   bool
	}{
		{"0/1", 0, 1, true}, {"3/4", 3, 4, true}, {"4/4", 0, 0, false}, {"-1/4", 0, 0, false},
		{"1", 0, 0, false}, {"a/b", 0, 0, false}, {"0/0", 0, 0, false},
	} {
		i, n, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || i != tc.i || n != tc.n {
			t.Errorf("ParseShard(%q) = %d, %d, %v", tc.in, i, n, err)
		}
	}
}

// TestEncodeShardSorted: the same records in any order give the same bytes.
func TestEncodeShardSorted(t *testing.T) {
	rs := []Record{{File: "b", Error: "x"}, {File: "a", Error: "y"}, {File: "c", Error: "z"}}
	one, err := EncodeShard(rs)
	if err != nil {
		t.Fatal(err)
	}
	two, _ := EncodeShard([]Record{rs[2], rs[0], rs[1]})
	if !bytes.Equal(one, two) || !strings.HasPrefix(string(one), `{"error":"y","file":"a"}`) {
		t.Errorf("shards differ:\n%s\n%s", one, two)
	}
}

func ExampleShard() {
	for _, name := range []string{"cam1/0001.jpg", "cam1/0002.jpg", "cam2/0001.jpg"} {
		fmt.Println(name, Shard(name, 4))
	}
	// Output:
	// cam1/0001.jpg 2
	// cam1/0002.jpg 3
	// cam2/0001.jpg 1
}
