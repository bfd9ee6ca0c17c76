package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
	"trashsort/train"
)

// chromium finds Debian's Chromium; the test skips without it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (apt-get install chromium)")
	return ""
}

// TestBrowserClassifiesUpload loads the page in headless Chromium, uploads
// a TrashNet photo and reads the predicted class from the page; it must be
// the class the API gives for the same file. A screenshot is saved.
func TestBrowserClassifiesUpload(t *testing.T) {
	bin := chromium(t)
	photo := shared.Path(t, "trashnet/val/glass/glass112.jpg")
	clf := trainedModel(t)
	s, err := New(clf, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := newLoopbackServer(t, s)
	img, _ := os.ReadFile(photo)
	resp, err := http.Post(hs+"/v1/classify", "image/jpeg", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	var api struct{ Label string }
	json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(480, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = chromedp.Do(ctx,
		chromedp.Navigate(hs+"/"),
		chromedp.WaitReady(chromedp.CSS("#drop")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo}),
		chromedp.WaitVisible(chromedp.CSS("#result")),
	)
	if err != nil {
		t.Fatal(err)
	}
	label, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#label")))
	if err != nil {
		t.Fatal(err)
	}
	model, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#model")))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if label != api.Label {
		t.Errorf("page shows %q, the API says %q", label, api.Label)
	}
	out := filepath.Join(os.TempDir(), "trashsort-page.png")
	if d := os.Getenv("TRASHSORT_SCREENSHOT_DIR"); d != "" {
		out = filepath.Join(d, "page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("page shows %q (%s); screenshot %s", label, model, out)
}

// trainedModel trains MobileNetV2 0.35 briefly on a TrashNet subset, so the
// page shows a real prediction.
func trainedModel(t *testing.T) *classifier.Classifier {
	t.Helper()
	root := shared.Path(t, "trashnet")
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	tr, va, err := data.FromSplitFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{Backbone: "mobilenet_v2_035", Size: 128, Batch: 16, Head: classifier.Head{Units: 256},
		Epochs1: 8, LR1: 3e-4, Augment: data.SeedRecipe(), CacheFeatures: 2, Seed: 1}
	res, err := train.Fit(context.Background(), cfg, tr.Subset(20), va.Subset(5), w)
	if err != nil {
		t.Fatal(err)
	}
	return res.Classifier
}

func newLoopbackServer(t *testing.T, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a string) { addr <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatal(err)
	}
	return ""
}
