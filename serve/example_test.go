package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/serve"
)

// The service as an http.Handler, here behind a test server: POST an
// image to /v1/classify and read the answer. The model has random
// weights, so only what does not depend on them is shown: the status, a
// label among the classes (or "unsure"), a probability per class and the
// request id echoed back.
func ExampleServer_Handler() {
	classes := []string{"glass", "metal", "paper"}
	clf, err := classifier.New(classifier.Meta{Backbone: "mobilenet_v2_035", Size: 64, Classes: classes, Head: classifier.Head{Units: 16}}, 1)
	if err != nil {
		panic(err)
	}
	s, err := serve.New(clf, "", serve.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	img := &data.RGB{W: 80, H: 60, Pix: bytes.Repeat([]byte{30, 120, 200}, 80*60)}
	var photo bytes.Buffer
	if err := img.Encode(&photo, 90); err != nil {
		panic(err)
	}
	req, err := http.NewRequest("POST", hs.URL+"/v1/classify", &photo)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set(serve.RequestIDHeader, "example-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var a struct {
		Label         string             `json:"label"`
		Probabilities map[string]float64 `json:"probabilities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		panic(err)
	}
	fmt.Println(resp.Status, resp.Header.Get(serve.RequestIDHeader))
	fmt.Println("label known:", a.Label == "unsure" || slices.Contains(classes, a.Label))
	fmt.Println("probabilities:", len(a.Probabilities))
	// Output:
	// 200 OK example-1
	// label known: true
	// probabilities: 3
}
