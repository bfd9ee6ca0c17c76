package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/internal/shared"
)

// siteFolder makes a flat site folder from tinyData's training photos
// under the site's own folder names: "boxes" for cardboard, "bottles" for
// glass, and "food" (photos of paper standing in) mapped to none.
func siteFolder(t *testing.T, tiny string) (dir, mapping string) {
	t.Helper()
	dir = t.TempDir()
	for folder, class := range map[string]string{"boxes": "cardboard", "bottles": "glass", "food": "paper"} {
		files, err := os.ReadDir(filepath.Join(tiny, "train", class))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, folder), 0o755)
		for _, f := range files {
			src, _ := os.Readlink(filepath.Join(tiny, "train", class, f.Name()))
			os.Symlink(src, filepath.Join(dir, folder, f.Name()))
		}
	}
	mapping = filepath.Join(t.TempDir(), "mapping.json")
	os.WriteFile(mapping, []byte(`{"boxes": "cardboard", "bottles": "glass", "food": null}`), 0o644)
	return dir, mapping
}

// TestTrainSeveralDatasets: --data A --data B --map B=FILE --data-weight
// B=3 trains on both, validates on both and reports each.
func TestTrainSeveralDatasets(t *testing.T) {
	tiny := tinyData(t)
	site, mapping := siteFolder(t, tiny)
	out := filepath.Join(t.TempDir(), "model.safetensors")
	w := shared.Path(t, "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
	args := trainArgs(tiny, w, out, "--data", site, "--map", site+"="+mapping, "--data-weight", site+"=3", "--epochs1", "1", "--epochs2", "1")
	o, err := trainProc(args).CombinedOutput()
	if err != nil {
		t.Fatalf("train: %v\n%s", err, o)
	}
	// tinyData: 4 training and 2 validation photos a class; the site's
	// two known folders of 4 split 3/1 each; food is left out.
	for _, want := range []string{
		"train: 30 images", "val:   14 images",
		"val accuracy on " + tiny + ": ", "(12 images)",
		"val accuracy on " + site + ": ", "(2 images)",
	} {
		if !strings.Contains(string(o), want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data-weight", site + "=-1"}, "not a positive number"},
		{[]string{"--data-weight", "elsewhere=2"}, "one of --data's folders"},
		{[]string{"--map", tiny + "=" + mapping}, "the first --data folder sets the classes"},
		{[]string{"--map", mapping, "--map", mapping}, "only one mapping"},
	} {
		_, err := run(t, append([]string{"train", "--data", tiny, "--data", site, "--weights", w, "--backbone", "mobilenet_v2_035", "--out", filepath.Join(t.TempDir(), "m.safetensors")}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
