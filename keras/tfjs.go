package keras

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"trashsort/atomicfile"
	"trashsort/classifier"
	"trashsort/tensor"
)

// ShardBytes is the largest weight shard of a TensorFlow.js export, the
// converter's default (4 MiB); a weight may continue from one shard into
// the next.
const ShardBytes = 4 << 20

// ModelJSON is the name of a TensorFlow.js Layers model's topology file.
const ModelJSON = "model.json"

// tfjsModel is model.json.
type tfjsModel struct {
	Format              string          `json:"format"`
	GeneratedBy         string          `json:"generatedBy"`
	ConvertedBy         *string         `json:"convertedBy"`
	ModelTopology       json.RawMessage `json:"modelTopology"`
	WeightsManifest     []tfjsGroup     `json:"weightsManifest"`
	UserDefinedMetadata struct {
		Trashsort Info `json:"trashsort"`
	} `json:"userDefinedMetadata"`
}

type tfjsGroup struct {
	Paths   []string     `json:"paths"`
	Weights []tfjsWeight `json:"weights"`
}

type tfjsWeight struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	Dtype string `json:"dtype"`
}

var shardName = regexp.MustCompile(`^group1-shard[0-9]+of[0-9]+\.bin$`)

// WriteTFJS writes clf as a TensorFlow.js Layers model in dir: model.json
// (format "layers-model"; modelTopology holds keras_version, backend and
// the same model_config as WriteH5; userDefinedMetadata.trashsort holds
// Info) and its weights, little-endian float32 in model.layers order, in
// shards group1-shard1ofN.bin of at most ShardBytes, as the TensorFlow.js
// converter writes them; tf.loadLayersModel reads it. Each file is written
// atomically, model.json last, and shards of an earlier export that the
// new model.json does not name are removed.
func WriteTFJS(dir string, clf *classifier.Classifier, o Options) error {
	e, err := build(clf, o)
	if err != nil {
		return err
	}
	topology, err := json.Marshal(object{{"keras_version", KerasVersion}, {"backend", Backend}, {"model_config", e.config}})
	if err != nil {
		return fmt.Errorf("keras: model_config: %w", err)
	}
	var specs []tfjsWeight
	size := 0
	for _, name := range e.layers {
		for _, w := range e.weights[name] {
			size += 4 * len(w.data)
		}
	}
	all := make([]byte, 0, size)
	for _, name := range e.layers {
		for _, w := range e.weights[name] {
			dtype := "float32"
			if w.int64 {
				dtype = "int32"
			}
			specs = append(specs, tfjsWeight{Name: strings.TrimSuffix(w.name, ":0"), Shape: w.shape, Dtype: dtype})
			for _, v := range w.data {
				if w.int64 {
					all = binary.LittleEndian.AppendUint32(all, uint32(int32(v)))
				} else {
					all = binary.LittleEndian.AppendUint32(all, math.Float32bits(v))
				}
			}
		}
	}
	n := max(1, (len(all)+ShardBytes-1)/ShardBytes)
	var paths []string
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("group1-shard%dof%d.bin", i+1, n)
		paths = append(paths, p)
		if err := atomicfile.WriteFile(filepath.Join(dir, p), all[i*ShardBytes:min(len(all), (i+1)*ShardBytes)]); err != nil {
			return err
		}
	}
	m := tfjsModel{Format: "layers-model", GeneratedBy: "trashsort " + classifier.FormatVersion, ModelTopology: topology,
		WeightsManifest: []tfjsGroup{{Paths: paths, Weights: specs}}}
	m.UserDefinedMetadata.Trashsort = info(clf, e)
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("keras: model.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ModelJSON), b); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, p := range paths {
		keep[p] = true
	}
	for _, ent := range ents {
		if shardName.MatchString(ent.Name()) && !keep[ent.Name()] {
			os.Remove(filepath.Join(dir, ent.Name()))
		}
	}
	return nil
}

func init() {
	classifier.RegisterFormat(classifier.Format{
		Name:  "tfjs",
		Match: func(path string, head []byte) bool { return isModelJSON(path) },
		Load:  LoadTFJS,
	})
}

// maxModelJSON bounds model.json (InceptionV3's is about 200 kB).
const maxModelJSON = 64 << 20

// LoadTFJS reads a TensorFlow.js export that WriteTFJS wrote (the path of
// its model.json) back as a classifier. Every weight of the model must be
// in the manifest with its shape, the shards must hold exactly the
// manifest's bytes, and shard paths must be plain names in the folder.
func LoadTFJS(path string) (*classifier.Classifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxModelJSON+1))
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(b) > maxModelJSON {
		return nil, fmt.Errorf("%s: over %d bytes: not a model.json", path, maxModelJSON)
	}
	var m tfjsModel
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in := m.UserDefinedMetadata.Trashsort
	if m.Format != "layers-model" || in.Format != InfoFormat {
		return nil, fmt.Errorf("%s: not a trashsort TensorFlow.js export (format %q, metadata %q; want layers-model with userDefinedMetadata.trashsort %q)", path, m.Format, in.Format, InfoFormat)
	}
	return fromInfo(in, path, func(clf *classifier.Classifier) error {
		return loadShards(clf, m, filepath.Dir(path), path)
	})
}

func loadShards(clf *classifier.Classifier, m tfjsModel, dir, path string) error {
	want := map[string]*tensor.Tensor{}
	count := 0
	for _, l := range clf.Model.Layers {
		for _, p := range l.Params() {
			want[l.Base().Name()+"/"+p.Name] = p.Value
			count++
		}
	}
	seen := 0
	for _, g := range m.WeightsManifest {
		total := 0
		for _, w := range g.Weights {
			n := 1
			for _, d := range w.Shape {
				if d < 0 || d > maxModelJSON || n > maxModelJSON/max(d, 1) {
					return fmt.Errorf("%s: weight %q: shape %v out of bounds", path, w.Name, w.Shape)
				}
				n *= d
			}
			t, ok := want[w.Name]
			if !ok {
				if strings.HasSuffix(w.Name, "/count") {
					total += 4 * tensor.Numel(w.Shape) // Normalization's count: not a model weight here
					continue
				}
				return fmt.Errorf("%s: weight %q is not in the model", path, w.Name)
			}
			if w.Dtype != "float32" || !tensor.SameShape(w.Shape, t.Shape) {
				return fmt.Errorf("%s: weight %q: %s %v, the model expects float32 %v", path, w.Name, w.Dtype, w.Shape, t.Shape)
			}
			total += 4 * t.Len()
		}
		var buf []byte
		for _, p := range g.Paths {
			if p != filepath.Base(p) || !shardName.MatchString(p) {
				return fmt.Errorf("%s: shard path %q: want a group1-shardNofM.bin name in the model's folder", path, p)
			}
			st, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				return err
			}
			if st.Size() > int64(total-len(buf)) {
				return fmt.Errorf("%s: shard %s holds more than the manifest's %d bytes", path, p, total)
			}
			s, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return err
			}
			buf = append(buf, s...)
		}
		if len(buf) != total {
			return fmt.Errorf("%s: the shards hold %d bytes, the manifest %d", path, len(buf), total)
		}
		off := 0
		for _, w := range g.Weights {
			t, ok := want[w.Name]
			if !ok {
				off += 4 * tensor.Numel(w.Shape)
				continue
			}
			for i := range t.Data {
				t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[off+4*i:]))
			}
			off += 4 * t.Len()
			delete(want, w.Name)
			seen++
		}
	}
	if seen != count {
		for name := range want {
			return fmt.Errorf("%s: no weight %q", path, name)
		}
	}
	for _, l := range clf.Model.Layers {
		for _, p := range l.Params() {
			p.Touch()
		}
	}
	return nil
}
