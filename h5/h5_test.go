package h5

import (
	"fmt"
	"path/filepath"
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

// TestWriteReadBack writes attributes and datasets and reads them back,
// including an empty string list (a layer without weights) and nested groups.
func TestWriteReadBack(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.h5")
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"input_1", "conv1_conv", "a_much_longer_layer_name"}
	data := []float32{1, -2.5, 3, 4, 5, 6}
	for _, err := range []error{
		f.WriteStrings("/", "layer_names", names),
		f.WriteStrings("input_1", "weight_names", nil),
		f.WriteStrings("conv1_conv", "weight_names", []string{"conv1_conv/kernel:0"}),
		f.WriteFloat32("conv1_conv/conv1_conv/kernel:0", []int{1, 2, 3}, data),
		f.WriteInt64("norm/norm/count:0", nil, []float32{1281167}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.WriteFloat32("bad", []int{4}, data); err == nil {
		t.Error("a shape that does not fit the data was written")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Strings("/", "layer_names")
	if err != nil || strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("layer_names %q %v", got, err)
	}
	if wn, err := f.Strings("input_1", "weight_names"); err != nil || len(wn) != 0 {
		t.Errorf("empty weight_names %q %v", wn, err)
	}
	if shape, c, err := f.Float32("norm/norm/count:0"); err != nil || len(shape) != 0 || len(c) != 1 || c[0] != 1281167 {
		t.Errorf("int64 scalar %v %v %v", shape, c, err)
	}
	shape, back, err := f.Float32("conv1_conv/conv1_conv/kernel:0")
	if err != nil || fmt.Sprint(shape) != "[1 2 3]" || fmt.Sprint(back) != fmt.Sprint(data) {
		t.Errorf("dataset %v %v %v", shape, back, err)
	}
}

// TestWriteString writes scalar string attributes, one larger than an
// object header's 64 KiB (a large model's model_config), on the root and on
// a group, and reads them back.
func TestWriteString(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.h5")
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	big := `{"layers": [` + strings.Repeat(`{"class_name": "Conv2D", "name": "ü"},`, 5000) + `{}]}`
	for _, err := range []error{
		f.WriteString("/", "model_config", big),
		f.WriteString("/", "keras_version", "2.15.0"),
		f.WriteString("/", "keras_version", "2.15.1"), // replaced
		f.WriteString("model_weights", "backend", "tensorflow"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.WriteString("/", "bad", "a\x00b"); err == nil {
		t.Error("a string with a NUL byte was written")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct{ obj, name, want string }{
		{"/", "model_config", big}, {"/", "keras_version", "2.15.1"}, {"model_weights", "backend", "tensorflow"},
	} {
		got, err := f.Strings(c.obj, c.name)
		if err != nil || len(got) != 1 || got[0] != c.want {
			t.Errorf("%s/%s: %d strings, %v", c.obj, c.name, len(got), err)
		}
	}
}
