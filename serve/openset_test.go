package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"trashsort/classifier"
	"trashsort/openset"
)

// A model whose open-set detector refuses everything answers "unknown" with
// the message, and one that accepts everything answers a class.
func TestClassifyUnknown(t *testing.T) {
	for _, tc := range []struct {
		threshold float64
		unknown   bool
	}{{math.MaxFloat64, true}, {-math.MaxFloat64, false}} {
		clf := testServerClassifier(t)
		k := len(clf.Meta.Classes)
		gap := clf.Model.Index("global_average_pooling2d")
		d := clf.Model.Layers[gap].Base().OutShape()[0]
		g := &openset.Gaussian{Dim: d, Means: make([][]float64, k), Precision: make([]float64, d*d)}
		for c := range g.Means {
			g.Means[c] = make([]float64, d)
		}
		for i := 0; i < d; i++ {
			g.Precision[i*d+i] = 1
		}
		if err := clf.SetOpenSet(g, classifier.OpenSet{Threshold: tc.threshold}); err != nil {
			t.Fatal(err)
		}
		s, err := New(clf, "", Options{Timeout: 2 * time.Minute, MinConfidence: -1})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s.Handler())
		body, ct := multipartBody("image", jpegImage(40, 30))
		resp, err := http.Post(hs.URL+"/v1/classify", ct, body)
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		mr, err := http.Get(hs.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(mr.Body)
		mr.Body.Close()
		outcome := "answered"
		if tc.unknown {
			outcome = "unknown"
		}
		if want := `trashsort_answers_total{class="` + a.Guess + `",outcome="` + outcome + `"} 1`; !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %s", want)
		}
		hs.Close()
		s.Close()
		if resp.StatusCode != 200 || a.Unknown != tc.unknown || (a.Label == classifier.Unknown) != tc.unknown {
			t.Fatalf("threshold %g: status %d, answer %+v", tc.threshold, resp.StatusCode, a)
		}
		if tc.unknown && !strings.Contains(a.Message, "not one of cardboard, glass") {
			t.Fatalf("message %q", a.Message)
		}
	}
}

// A model with a NaN bias answers 500 with an error body, not a 200 with
// none, and the metrics count a 500.
func TestNonFiniteAnswerIs500(t *testing.T) {
	clf := testServerClassifier(t)
	for _, p := range clf.Model.Layers[clf.Model.Index("dense_1")].Params() {
		if p.Name == "bias" {
			p.Value.Data[0] = float32(math.NaN())
			p.Touch()
		}
	}
	s, err := New(clf, "", Options{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer func() { hs.Close(); s.Close() }()
	body, ct := multipartBody("image", jpegImage(40, 30))
	resp, err := http.Post(hs.URL+"/v1/classify", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), "could not be encoded") {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
	mr, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	if !strings.Contains(string(m), `trashsort_http_requests_total{code="500",handler="classify"} 1`) {
		t.Fatal("metrics do not count the 500")
	}
}

// Serve options outside their ranges are refused, not silently replaced
// by defaults or left to overflow.
func TestOptionsRefused(t *testing.T) {
	clf := testServerClassifier(t)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"negative feedback rate", Options{FeedbackPerMinute: -5}, "feedback per minute"},
		{"negative max files", Options{MaxFiles: -3}, "max files"},
		{"huge max body", Options{MaxBodyBytes: 1 << 60}, "max body bytes"},
		{"too many files", Options{MaxFiles: 5000}, "max files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(clf, "", tc.o)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}

// A panic while classifying one image of a batch answers that image with
// an internal error, counts a panic and leaves the server running.
func TestBatchImagePanicIsRecovered(t *testing.T) {
	s, hs := testServer(t, Options{})
	s.batchClassify = func(context.Context, []byte) (answer, *apiErr) { panic("crafted image") }
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i < 2; i++ {
		w, _ := mw.CreateFormFile("image", "photo.jpg")
		w.Write(jpegImage(40, 30))
	}
	mw.Close()
	resp, err := http.Post(hs.URL+"/v1/classify/batch", mw.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"failed":2`) || !strings.Contains(string(body), "internal") {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	s.batchClassify = nil
	r, ct := multipartBody("image", jpegImage(40, 30))
	resp, err = http.Post(hs.URL+"/v1/classify", ct, r)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the server did not survive: %v %v", err, resp)
	}
	resp.Body.Close()
}
