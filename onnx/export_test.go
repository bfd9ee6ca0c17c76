package onnx

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"trashsort/calibrate"
	"trashsort/classifier"
	"trashsort/data"
	"trashsort/internal/shared"
	"trashsort/onnx/onnxpb"
	"trashsort/tensor"
	"trashsort/train"
)

func small(t *testing.T, backbone string, size int) *classifier.Classifier {
	t.Helper()
	clf, err := classifier.New(classifier.Meta{Backbone: backbone, Size: size, Classes: []string{"cardboard", "glass", "metal"}, Head: classifier.Head{Units: 16}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	clf.Model.InitWeights(7)
	clf.Meta.Calibration = &calibrate.Calibration{Temperature: 1.7, MinConfidence: 0.6}
	return clf
}

// TestModelIsWellFormed checks the file without a runtime: opset, names,
// metadata, and that every node reads only tensors defined before it.
func TestModelIsWellFormed(t *testing.T) {
	clf := small(t, "mobilenet_v2_035", 64)
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := Write(path, clf); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.OpsetImport) != 1 || m.OpsetImport[0].GetVersion() < 13 || m.GetIrVersion() < 7 {
		t.Errorf("opset %v ir %d", m.OpsetImport, m.GetIrVersion())
	}
	meta := map[string]string{}
	for _, e := range m.MetadataProps {
		meta[e.GetKey()] = e.GetValue()
	}
	var classes []string
	if err := json.Unmarshal([]byte(meta["classes"]), &classes); err != nil || strings.Join(classes, ",") != "cardboard,glass,metal" {
		t.Errorf("metadata classes %q (%v)", meta["classes"], err)
	}
	if meta["temperature"] != "1.7" || meta["min_confidence"] != "0.6" || meta["input_size"] != "64" || !strings.Contains(meta["preprocessing"], "included") {
		t.Errorf("metadata %v", meta)
	}
	g := m.Graph
	defined := map[string]bool{}
	for _, in := range g.Input {
		defined[in.GetName()] = true
	}
	for _, in := range g.Initializer {
		defined[in.GetName()] = true
	}
	for _, n := range g.Node {
		for _, in := range n.Input {
			if !defined[in] {
				t.Fatalf("node %s (%s) reads %q before it is defined", n.GetName(), n.GetOpType(), in)
			}
		}
		for _, out := range n.Output {
			if defined[out] {
				t.Fatalf("node %s redefines %q", n.GetName(), out)
			}
			defined[out] = true
		}
	}
	if len(g.Input) != 1 || g.Input[0].GetName() != Input || len(g.Output) != 1 || g.Output[0].GetName() != Output || !defined[Output] {
		t.Errorf("inputs %v outputs %v", g.Input, g.Output)
	}
}

// ortNode finds Node and onnxruntime-node, or skips: TRASHSORT_ORT_NODE
// names a node_modules folder holding onnxruntime-node (default
// .cache/onnxruntime-node/node_modules at the module root, where .ci/run
// and `make ort` install it).
func ortNode(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no Node.js found: apt-get install nodejs, then `make ort` to install onnxruntime-node")
	}
	modules = os.Getenv("TRASHSORT_ORT_NODE")
	if modules == "" {
		modules, _ = filepath.Abs(filepath.Join("..", ".cache", "onnxruntime-node", "node_modules"))
	}
	if _, err := os.Stat(filepath.Join(modules, "onnxruntime-node", "package.json")); err != nil {
		t.Skipf("onnxruntime-node is not installed in %s: run `make ort` (npm install --ignore-scripts onnxruntime-node) or set TRASHSORT_ORT_NODE", modules)
	}
	return node, modules
}

// runORT runs the exported model in ONNX Runtime on x [N, S, S, 3].
func runORT(t *testing.T, model string, x *tensor.Tensor, k int) []float32 {
	t.Helper()
	node, modules := ortNode(t)
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
	cmd := exec.Command(node, filepath.Join("testdata", "run_ort.js"), model, in,
		itoa(s[0]), itoa(s[1]), itoa(s[2]), itoa(s[3]), out)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("onnxruntime-node: %v\n%s", err, msg)
	}
	t.Logf("onnxruntime-node: %s", strings.TrimSpace(string(msg)))
	pb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(pb) != 4*s[0]*k {
		t.Fatalf("ONNX Runtime gave %d bytes, want %d", len(pb), 4*s[0]*k)
	}
	p := make([]float32, len(pb)/4)
	for i := range p {
		p[i] = math.Float32frombits(binary.LittleEndian.Uint32(pb[4*i:]))
	}
	return p
}

func itoa(v int) string { return strconv.Itoa(v) }

// compare returns the largest absolute difference and the number of images
// whose top-1 class differs.
func compare(a, b []float32, k int) (float64, int) {
	var maxDiff float64
	disagree := 0
	for i := 0; i+k <= len(a); i += k {
		for j := i; j < i+k; j++ {
			maxDiff = max(maxDiff, math.Abs(float64(a[j]-b[j])))
		}
		if tensor.Argmax(a[i:i+k]) != tensor.Argmax(b[i:i+k]) {
			disagree++
		}
	}
	return maxDiff, disagree
}

// TestONNXRuntimeAgreesOnVal trains MobileNetV2 0.35 briefly, exports it,
// and runs every TrashNet val image through our engine and ONNX Runtime:
// probabilities within 1e-4, the same top-1 class for all.
func TestONNXRuntimeAgreesOnVal(t *testing.T) {
	ortNode(t)
	root := shared.Path(t, "trashnet")
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	tr, va, err := data.FromSplitFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{Backbone: "mobilenet_v2_035", Size: 128, Batch: 16, Head: classifier.Head{Units: 128},
		Epochs1: 4, Epochs2: 1, LR1: 3e-4, LR2: 1e-4, CacheFeatures: 0, Seed: 1}
	res, err := train.Fit(context.Background(), cfg, tr.Subset(10), va.Subset(5), w)
	if err != nil {
		t.Fatal(err)
	}
	clf := res.Classifier
	if clf.Temperature() == 1 {
		t.Fatal("the trained model has no temperature: the export's Div is untested")
	}
	model := filepath.Join(t.TempDir(), "m.onnx")
	if err := Write(model, clf); err != nil {
		t.Fatal(err)
	}
	l, err := data.NewLoader(va, data.Config{Size: clf.Meta.Size, Resize: clf.Meta.Resize, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	var xs []float32
	var ours []float32
	ch, errf := l.Epoch(context.Background(), 0)
	for b := range ch {
		p, err := clf.Predict(b.X)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, b.X.Data...)
		ours = append(ours, p.Data...)
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	k := len(clf.Meta.Classes)
	n := len(ours) / k
	s := clf.Meta.Size
	theirs := runORT(t, model, &tensor.Tensor{Shape: []int{n, s, s, 3}, Data: xs}, k)
	maxDiff, disagree := compare(ours, theirs, k)
	t.Logf("%d val images: max |p_ours - p_ort| %.2e, top-1 disagreements %d (temperature %.3f)", n, maxDiff, disagree, clf.Temperature())
	if maxDiff > 1e-4 || disagree != 0 {
		t.Errorf("max difference %.2e (want <= 1e-4), %d of %d top-1 disagreements (want 0)", maxDiff, disagree, n)
	}
}

// TestONNXRuntimeAgreesInceptionV3 checks the InceptionV3 graph's
// operators (Concat, AveragePool, MaxPool, BatchNormalization without
// scale) on an untrained model and random images.
func TestONNXRuntimeAgreesInceptionV3(t *testing.T) {
	ortNode(t)
	clf := small(t, "inception_v3", 75)
	// Untrained logits lie close together: a small temperature spreads the
	// probabilities so that the comparison sees the logits' differences.
	clf.Meta.Calibration.Temperature = 0.002
	model := filepath.Join(t.TempDir(), "m.onnx")
	if err := Write(model, clf); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := tensor.New(3, 75, 75, 3)
	for i := range x.Data {
		x.Data[i] = float32(r.IntN(256))
	}
	ours, err := clf.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	theirs := runORT(t, model, x, 3)
	maxDiff, disagree := compare(ours.Data, theirs, 3)
	t.Logf("ours %v, ONNX Runtime %v: max difference %.2e", ours.Data, theirs, maxDiff)
	if maxDiff > 1e-4 || disagree != 0 {
		t.Errorf("max difference %.2e, %d top-1 disagreements", maxDiff, disagree)
	}
}
