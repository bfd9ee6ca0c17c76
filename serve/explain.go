package serve

import (
	"context"
	"encoding/base64"
	"net/http"

	"trashsort/data"
	"trashsort/explain"
	"trashsort/tensor"
)

// classifyExplained classifies like classifyOne and adds the Grad-CAM
// heat map of the most probable class over the model's input image, as a
// base64 PNG.
func (s *Server) classifyExplained(ctx context.Context, b []byte) (answer, *apiErr) {
	x, aerr := s.decode(ctx, b)
	if aerr != nil {
		return answer{}, aerr
	}
	a, aerr := s.classifyPixels(ctx, x)
	if aerr != nil {
		return a, aerr
	}
	// A heat map is a forward and a backward pass outside the batcher:
	// one at a time, admitted within the request's timeout.
	if err := s.explainSlot.Acquire(ctx, 1); err != nil {
		return answer{}, &apiErr{http.StatusServiceUnavailable, "timeout", "the server is busy explaining other images: retry shortly, or ask without explain=1"}
	}
	defer s.explainSlot.Release(1)
	size := s.clf.Meta.Size
	class := 0
	for i, c := range s.clf.Meta.Classes {
		if c == a.Guess {
			class = i
		}
	}
	maps, err := explain.GradCAM(s.clf, &tensor.Tensor{Shape: []int{1, size, size, 3}, Data: x[0]}, class)
	if err != nil {
		s.logFor(ctx).Error("explain", "err", err)
		return answer{}, &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"}
	}
	img := &data.RGB{W: size, H: size, Pix: make([]byte, len(x[0]))}
	for i, v := range x[0] {
		img.Pix[i] = byte(v)
	}
	png, err := explain.OverlayPNG(img, &maps[0])
	if err != nil {
		s.logFor(ctx).Error("explain", "err", err)
		return answer{}, &apiErr{http.StatusInternalServerError, "internal", "internal error: the failure is logged on the server"}
	}
	a.HeatMap = base64.StdEncoding.EncodeToString(png)
	return a, nil
}
