package h5

import (
	"strings"
	"testing"

	"trashsort/internal/shared"
)

func TestReadKerasFile(t *testing.T) {
	p := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Strings("/", "layer_names")
	if err != nil || len(names) != 155 || names[0] != "input_1" || names[154] != "out_relu" {
		t.Fatalf("layer_names: %d %v", len(names), err)
	}
	wn, err := f.Strings("Conv1", "weight_names")
	if err != nil || len(wn) != 1 || wn[0] != "Conv1/kernel:0" {
		t.Fatalf("weight_names %v %v", wn, err)
	}
	shape, data, err := f.Float32("Conv1/Conv1/kernel:0")
	if err != nil || len(shape) != 4 || shape[3] != 16 || len(data) != 3*3*3*16 {
		t.Fatalf("kernel %v %d %v", shape, len(data), err)
	}
	if _, _, err := f.Float32("Conv1/missing:0"); err == nil || !strings.Contains(err.Error(), "no dataset") {
		t.Errorf("missing dataset: %v", err)
	}
	if _, err := f.Strings("/", "nope"); err == nil {
		t.Error("missing attribute: no error")
	}
	if !f.Exists("Conv1/Conv1") || f.Exists("Conv1/Nope/x") {
		t.Error("Exists")
	}
}

func TestOpenRejectsNonHDF5(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("opened a directory")
	}
	if _, err := Open("/nonexistent.h5"); err == nil {
		t.Error("opened a missing file")
	}
}
