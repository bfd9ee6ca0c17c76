package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
// the class the API gives for the same file. The same photo on a server
// whose threshold is above any answer must show the "not sure" state.
// Screenshots are saved.
func TestBrowserClassifiesUpload(t *testing.T) {
	bin := chromium(t)
	photo := shared.Path(t, "trashnet/val/glass/glass112.jpg")
	clf := trainedModel(t)
	sure := browserServer(t, clf, Options{MinConfidence: -1})
	corrections := t.TempDir()
	unsure := browserServer(t, clf, Options{MinConfidence: 0.9999, CorrectionsDir: corrections})
	img, _ := os.ReadFile(photo)
	resp, err := http.Post(sure+"/v1/classify", "image/jpeg", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	var api answer
	json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()

	ctx := browser(t, bin)
	upload := func(base string) (label, confidence string, shot []byte) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitReady(chromedp.CSS("#drop")),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo}),
			chromedp.WaitVisible(chromedp.CSS("#result")),
		)
		if err != nil {
			t.Fatal(err)
		}
		if label, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#label"))); err != nil {
			t.Fatal(err)
		}
		confidence, _ = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#confidence")))
		if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
			t.Fatal(err)
		}
		return label, confidence, shot
	}
	label, _, shot := upload(sure)
	if label != api.Label {
		t.Errorf("page shows %q, the API says %q", label, api.Label)
	}
	saveShot(t, "page.png", shot)
	label, confidence, shot := upload(unsure)
	if label != "not sure: please check" || !strings.Contains(confidence, "best guess "+api.Guess) {
		t.Errorf("unsure page shows %q (%q); want the not-sure state with the guess %q", label, confidence, api.Guess)
	}
	// The feedback form: choose the right class and send it; the photo
	// lands in that class folder of the corrections.
	status, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("feedback").hidden`))
	if err != nil || !status {
		t.Fatalf("the feedback form is not shown (%v)", err)
	}
	saveShot(t, "page-unsure.png", shot)
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#feedback-class"), "plastic"),
		chromedp.Click(chromedp.CSS("#send-feedback")),
	)
	if err != nil {
		t.Fatal(err)
	}
	said, err := chromedp.Run(ctx, chromedp.Poll[string](`(t => t.startsWith("Thanks") || t.includes("error") ? t : false)(document.getElementById("feedback-status").textContent)`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || said != "Thanks: saved as plastic" {
		t.Errorf("after sending a correction the page says %q (%v)", said, err)
	}
	if files, _ := os.ReadDir(filepath.Join(corrections, "plastic")); len(files) != 1 {
		t.Errorf("corrections/plastic holds %d files, want 1", len(files))
	}
	// The explanation: ticking the box classifies again and shows the heat map.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#explain")),
		chromedp.WaitVisible(chromedp.CSS("#heatmap")),
	)
	if err != nil {
		t.Fatalf("heat map: %v", err)
	}
	if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		saveShot(t, "page-explained.png", shot)
	}
	t.Logf("page shows %q, then %q (%s)", api.Label, label, confidence)
}

func browserServer(t *testing.T, clf *classifier.Classifier, o Options) string {
	t.Helper()
	s, err := New(clf, "", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return newLoopbackServer(t, s)
}

// browser starts headless Chromium for the test.
func browser(t *testing.T, bin string) context.Context {
	t.Helper()
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
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// saveShot writes a screenshot to $TRASHSORT_SCREENSHOT_DIR (default the temp folder).
func saveShot(t *testing.T, name string, shot []byte) {
	t.Helper()
	dir := os.Getenv("TRASHSORT_SCREENSHOT_DIR")
	if dir == "" {
		dir = os.TempDir()
		name = "trashsort-" + name
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", out)
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
