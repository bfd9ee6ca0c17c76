package keras

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trashsort/classifier"
	"trashsort/tensor"
)

// TestTFJSLayout checks the folder: model.json's format, manifest and
// metadata, and shards of at most ShardBytes that hold the manifest.
func TestTFJSLayout(t *testing.T) {
	clf := small(t, "mobilenet_v2_035", 64)
	dir := t.TempDir()
	// A stale shard of an earlier, larger export goes.
	if err := os.WriteFile(filepath.Join(dir, "group1-shard9of9.bin"), []byte{1}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteTFJS(dir, clf, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ModelJSON))
	if err != nil {
		t.Fatal(err)
	}
	var m tfjsModel
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var topo struct {
		KerasVersion string `json:"keras_version"`
		ModelConfig  struct {
			ClassName string `json:"class_name"`
		} `json:"model_config"`
	}
	if err := json.Unmarshal(m.ModelTopology, &topo); err != nil || topo.KerasVersion != KerasVersion || topo.ModelConfig.ClassName != "Functional" {
		t.Errorf("modelTopology %+v %v", topo, err)
	}
	if m.Format != "layers-model" || len(m.WeightsManifest) != 1 || m.UserDefinedMetadata.Trashsort.InputSize != 64 {
		t.Fatalf("model.json %s, %d groups, metadata %+v", m.Format, len(m.WeightsManifest), m.UserDefinedMetadata.Trashsort)
	}
	g := m.WeightsManifest[0]
	total := 0
	for _, w := range g.Weights {
		total += 4 * tensor.Numel(w.Shape)
	}
	if g.Weights[0].Name != "Conv1/kernel" || g.Weights[len(g.Weights)-1].Name != "dense_1/bias" {
		t.Errorf("weights from %s to %s", g.Weights[0].Name, g.Weights[len(g.Weights)-1].Name)
	}
	size := 0
	for i, p := range g.Paths {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > ShardBytes || (i < len(g.Paths)-1 && st.Size() != ShardBytes) {
			t.Errorf("shard %s: %d bytes", p, st.Size())
		}
		size += int(st.Size())
	}
	if size != total || len(g.Paths) != (total+ShardBytes-1)/ShardBytes {
		t.Errorf("%d shards of %d bytes for %d", len(g.Paths), size, total)
	}
	if _, err := os.Stat(filepath.Join(dir, "group1-shard9of9.bin")); err == nil {
		t.Error("a stale shard was left")
	}
	// A shard cut short is refused.
	last := filepath.Join(dir, g.Paths[len(g.Paths)-1])
	if err := os.Truncate(last, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := classifier.Load(filepath.Join(dir, ModelJSON)); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("loaded a truncated shard: %v", err)
	}
}
