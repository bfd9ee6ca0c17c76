package keras

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
	"trashsort/tensor"
	"trashsort/train"
)

// tfjsNode finds Node, TensorFlow.js and h5wasm, or skips:
// TRASHSORT_TFJS_NODE names a node_modules folder holding @tensorflow/tfjs
// and h5wasm (default .cache/tfjs-node/node_modules at the module root,
// where .ci/run and `make tfjs` install them).
func tfjsNode(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no Node.js found: apt-get install nodejs, then `make tfjs` to install TensorFlow.js and h5wasm")
	}
	modules = os.Getenv("TRASHSORT_TFJS_NODE")
	if modules == "" {
		modules, _ = filepath.Abs(filepath.Join("..", ".cache", "tfjs-node", "node_modules"))
	}
	for _, p := range []string{"@tensorflow/tfjs", "h5wasm"} {
		if _, err := os.Stat(filepath.Join(modules, p, "package.json")); err != nil {
			t.Skipf("%s is not installed in %s: run `make tfjs` (npm install --ignore-scripts @tensorflow/tfjs h5wasm) or set TRASHSORT_TFJS_NODE", p, modules)
		}
	}
	return node, modules
}

// runTFJS runs an export (kind "h5" or "tfjs") in TensorFlow.js on raw
// pixels x [N, S, S, 3] and returns its probabilities.
func runTFJS(t *testing.T, kind, model string, x *tensor.Tensor, k int) []float32 {
	t.Helper()
	node, modules := tfjsNode(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "x.bin"), filepath.Join(dir, "p.bin")
	b := make([]byte, 4*len(x.Data))
	for i, v := range x.Data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := x.Shape
	args := []string{filepath.Join("testdata", "run_keras.mjs"), modules, kind, model, in}
	for _, d := range s {
		args = append(args, strconv.Itoa(d))
	}
	cmd := exec.Command(node, append(args, out)...)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TensorFlow.js: %v\n%s", err, msg)
	}
	lines := strings.Split(strings.TrimSpace(string(msg)), "\n")
	t.Logf("TensorFlow.js: %s", lines[len(lines)-1])
	pb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(pb) != 4*s[0]*k {
		t.Fatalf("TensorFlow.js gave %d bytes, want %d", len(pb), 4*s[0]*k)
	}
	p := make([]float32, len(pb)/4)
	for i := range p {
		p[i] = math.Float32frombits(binary.LittleEndian.Uint32(pb[4*i:]))
	}
	return p
}

// TestTFJSReadsBackbones builds each backbone's export in TensorFlow.js,
// the .h5 through h5wasm and the folder through tf.loadLayersModel, on an
// untrained model and random images: every operator of InceptionV3
// (Concatenate, AveragePooling2D, MaxPooling2D, BatchNormalization without
// scale) and MobileNetV2 (ZeroPadding2D, DepthwiseConv2D, ReLU6, Add), with
// and without the Rescaling layer.
func TestTFJSReadsBackbones(t *testing.T) {
	tfjsNode(t)
	for _, c := range []struct {
		backbone string
		size     int
		o        Options
	}{
		{"mobilenet_v2_035", 64, Options{}},
		{"inception_v3", 75, Options{Preprocessing: true}},
	} {
		clf := small(t, c.backbone, c.size)
		if c.backbone == "inception_v3" {
			// Its untrained logits lie close together: a small temperature
			// spreads the probabilities so that the comparison sees the
			// logits' differences.
			clf.Meta.Calibration.Temperature = 0.002
		}
		x := pixels(4, c.size, 3)
		ours := predict(t, clf, x)
		for _, kind := range []string{"h5", "tfjs"} {
			path := exportTo(t, kind, clf, c.o)
			theirs := runTFJS(t, kind, path, x, 3)
			d, dis := compare(ours, theirs, 3)
			t.Logf("%s %s %+v: ours %v, TensorFlow.js %v: max difference %.2e", kind, c.backbone, c.o, ours[:3], theirs[:3], d)
			if d > 1e-4 || dis != 0 {
				t.Errorf("%s %s: max difference %.2e, %d top-1 disagreements", kind, c.backbone, d, dis)
			}
		}
	}
}

// exportTo writes clf in a temporary folder as kind ("h5" or "tfjs") and
// returns the .h5 or model.json path.
func exportTo(t *testing.T, kind string, clf *classifier.Classifier, o Options) string {
	t.Helper()
	dir := t.TempDir()
	if kind == "tfjs" {
		if err := WriteTFJS(dir, clf, o); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, ModelJSON)
	}
	path := filepath.Join(dir, "model.h5")
	if err := WriteH5(path, clf, o); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTFJSAgreesOnVal trains MobileNetV2 0.35 briefly (as the ONNX export's
// test does), exports it as .h5 and as TensorFlow.js (with the Rescaling
// layer), and runs TrashNet val images through
// our engine (what trashsort predict computes on them) and TensorFlow.js:
// probabilities within 1e-4, the same top-1 class for all.
// TRASHSORT_KERAS_MODEL names a model file to check instead (every val
// image, at its own size: the hand measurement of docs/FORMAT.md), and
// TRASHSORT_KERAS_VAL a count of val images per class (default 4; 0 all).
func TestTFJSAgreesOnVal(t *testing.T) {
	tfjsNode(t)
	root := shared.Path(t, "trashnet")
	_, va, err := data.FromSplitFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	var clf *classifier.Classifier
	if p := os.Getenv("TRASHSORT_KERAS_MODEL"); p != "" {
		if clf, err = classifier.Load(p); err != nil {
			t.Fatal(err)
		}
		// The export's graph is the input size's; trashsort predict
		// --test-sizes <input size> answers the same.
		if err := clf.SetTestSizes([]int{clf.Meta.Size}); err != nil {
			t.Fatal(err)
		}
	} else {
		clf = trainSmall(t, root)
	}
	perClass := 4
	if v := os.Getenv("TRASHSORT_KERAS_VAL"); v != "" {
		if perClass, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	if perClass > 0 {
		va = va.Subset(perClass)
	}
	l, err := data.NewLoader(va, data.Config{Size: clf.Meta.Size, Resize: clf.Meta.Resize, BatchSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	var xs, ours []float32
	ch, errf := l.Epoch(context.Background(), 0)
	for b := range ch {
		xs = append(xs, b.X.Data...)
		ours = append(ours, predict(t, clf, b.X)...)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	k := len(clf.Meta.Classes)
	n, s := len(ours)/k, clf.Meta.Size
	x := &tensor.Tensor{Shape: []int{n, s, s, 3}, Data: xs}
	for _, c := range []struct {
		kind string
		o    Options
	}{{"h5", Options{}}, {"tfjs", Options{Preprocessing: true}}} {
		theirs := runTFJS(t, c.kind, exportTo(t, c.kind, clf, c.o), x, k)
		d, dis := compare(ours, theirs, k)
		t.Logf("%s %+v: %d val images: max |p_ours - p_tfjs| %.2e, top-1 disagreements %d (temperature %.3f)", c.kind, c.o, n, d, dis, clf.Temperature())
		if d > 1e-4 || dis != 0 {
			t.Errorf("%s: max difference %.2e (want <= 1e-4), %d of %d top-1 disagreements (want 0)", c.kind, d, dis, n)
		}
	}
}

// trainSmall fits MobileNetV2 0.35 at 96 px on a few TrashNet images from
// the ImageNet weights, so that the weights and the temperature are a
// trained model's.
func trainSmall(t *testing.T, root string) *classifier.Classifier {
	t.Helper()
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	tr, va, err := data.FromSplitFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{Backbone: "mobilenet_v2_035", Size: 96, Batch: 16, Head: classifier.Head{Units: 64, Dropout: 0.2},
		Epochs1: 3, Epochs2: 1, LR1: 3e-4, LR2: 1e-4, CacheFeatures: 0, Seed: 1}
	res, err := train.Fit(context.Background(), cfg, tr.Subset(8), va.Subset(4), w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Classifier.Temperature() == 1 {
		t.Fatal("the trained model has no temperature: the folded temperature is untested")
	}
	return res.Classifier
}
