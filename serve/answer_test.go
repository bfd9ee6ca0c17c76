package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"testing"

	"trashsort/calibrate"
)

func postImage(t *testing.T, url string, img []byte) answer {
	t.Helper()
	resp, err := http.Post(url+"/v1/classify", "image/jpeg", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return a
}

// TestUnsureBelowThreshold: the model's stored threshold applies by
// default, an option overrides it, and a negative option turns it off.
func TestUnsureBelowThreshold(t *testing.T) {
	cases := []struct {
		name       string
		stored     float64
		option     float64
		wantUnsure bool
	}{
		{"stored threshold above any 6-class answer", 0.999, 0, true},
		{"no stored threshold", 0, 0, false},
		{"option overrides the stored one", 0.999, 0.01, false},
		{"option asks for more", 0, 0.999, true},
		{"negative option: never unsure", 0.999, -1, false},
	}
	img := jpegImage(64, 48)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, hs := testServer(t, Options{MinConfidence: c.option})
			s.clf.Meta.Calibration = &calibrate.Calibration{Temperature: 1.5, MinConfidence: c.stored}
			a := postImage(t, hs.URL, img)
			if a.Unsure != c.wantUnsure || (a.Label == "unsure") != c.wantUnsure {
				t.Errorf("label %q unsure %v, want unsure %v", a.Label, a.Unsure, c.wantUnsure)
			}
			if a.Guess == "" || a.Probabilities[a.Guess] != float64(a.Confidence) {
				t.Errorf("guess %q confidence %v probabilities %v", a.Guess, a.Confidence, a.Probabilities)
			}
			if a.Unsure && a.Hint != "" {
				t.Errorf("an unsure answer carries the hint %q", a.Hint)
			}
		})
	}
}

func TestClassifyExplainReturnsHeatMap(t *testing.T) {
	_, hs := testServer(t, Options{})
	img := jpegImage(90, 70)
	for _, c := range []struct {
		query string
		want  bool
	}{{"?explain=1", true}, {"", false}} {
		resp, err := http.Post(hs.URL+"/v1/classify"+c.query, "image/jpeg", bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		err = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: status %d %v", c.query, resp.StatusCode, err)
		}
		if !c.want {
			if a.HeatMap != "" {
				t.Error("a heat map without ?explain=1")
			}
			continue
		}
		b, err := base64.StdEncoding.DecodeString(a.HeatMap)
		if err != nil {
			t.Fatal(err)
		}
		im, err := png.Decode(bytes.NewReader(b))
		if err != nil || im.Bounds().Dx() != 64 || im.Bounds().Dy() != 64 {
			t.Errorf("heat map: %v, bounds %v", err, im)
		}
	}
}
