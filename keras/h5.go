package keras

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"trashsort/atomicfile"
	"trashsort/classifier"
	"trashsort/h5"
	"trashsort/models"
)

// InfoFormat names the layout of the trashsort attribute.
const InfoFormat = "trashsort-keras/1"

// Info is what the export holds beyond Keras' own attributes: the root
// attribute "trashsort" of the .h5 file (JSON) and the userDefinedMetadata
// of the TensorFlow.js model.json.
type Info struct {
	Format  string   `json:"format"`
	Classes []string `json:"classes"` // in the output's order
	// InputSize is the height and width the model takes; Resize the filter
	// trashsort scales photos to it with.
	InputSize int    `json:"input_size"`
	Resize    string `json:"resize"`
	// Input says in words what the model takes.
	Input string `json:"input"`
	// PreprocessingInModel tells whether a Rescaling layer applies
	// x*Scale + Offset (per channel, RGB) inside the model; without it the
	// caller applies Preprocessing to pixels in [0, 255] first.
	PreprocessingInModel bool      `json:"preprocessing_in_model"`
	Preprocessing        string    `json:"preprocessing"`
	Scale                []float32 `json:"scale,omitempty"`
	Offset               []float32 `json:"offset,omitempty"`
	// Temperature is the calibration temperature; TemperatureInModel tells
	// whether it is folded into the last Dense layer (the softmax then
	// gives calibrated probabilities).
	Temperature        float64 `json:"temperature"`
	TemperatureInModel bool    `json:"temperature_in_model"`
	// MinConfidence is the "unsure" threshold on the calibrated top
	// probability (0: never unsure).
	MinConfidence float64 `json:"min_confidence"`
	// TestSizes are the sizes trashsort averages its predictions over; the
	// graph is InputSize's.
	TestSizes []int `json:"test_sizes"`
	// Meta is the model file's metadata, less the open-set detector and
	// the source feature statistics, whose tensors the export leaves out.
	Meta classifier.Meta `json:"meta"`
}

func info(clf *classifier.Classifier, e *export) Info {
	meta := clf.Meta
	meta.OpenSet, meta.SourceFeatures = nil, nil
	resize := meta.Resize
	if resize == "" {
		resize = "bilinear"
	}
	s := meta.Size
	in := Info{
		Format: InfoFormat, Classes: meta.Classes, InputSize: s, Resize: resize,
		PreprocessingInModel: e.rescale, Scale: e.scale, Offset: e.offset,
		Temperature: clf.Temperature(), TemperatureInModel: e.folded != 1, MinConfidence: clf.MinConfidence(),
		TestSizes: clf.TestSizes(), Meta: meta,
	}
	pre := fmt.Sprintf("x * %v + %v per RGB channel (%s)", e.scale, e.offset, meta.Preprocess)
	if _, _, affine := preprocessing(clf); !affine {
		pre = fmt.Sprintf("%s (see keras.applications' preprocess_input)", meta.Preprocess)
		in.Scale, in.Offset = nil, nil
	}
	if e.rescale {
		in.Preprocessing = "in the model (Rescaling layer): " + pre
		in.Input = fmt.Sprintf("float32 [batch, %d, %d, 3], RGB in [0, 255], resized (%s) to %dx%d; EXIF orientation applied", s, s, resize, s, s)
	} else {
		in.Preprocessing = "outside the model, as keras.applications: " + pre
		in.Input = fmt.Sprintf("float32 [batch, %d, %d, 3], RGB in [0, 255] resized (%s) to %dx%d with the EXIF orientation applied, then preprocessed", s, s, resize, s, s)
	}
	return in
}

// headerLimit is the most one attribute in an HDF5 object header may hold,
// as Keras bounds it (HDF5_OBJECT_HEADER_LIMIT); longer lists are split
// into name0, name1, ...
const headerLimit = 64512

// writeStrings writes a Keras string-list attribute, split as Keras splits it.
func writeStrings(f *h5.File, obj, name string, vals []string) error {
	width := 1
	for _, v := range vals {
		width = max(width, len(v))
	}
	if width*len(vals) <= headerLimit {
		return f.WriteStrings(obj, name, vals)
	}
	chunks := (width*len(vals) + headerLimit - 1) / headerLimit
	per := (len(vals) + chunks - 1) / chunks
	for k := 0; k*per < len(vals); k++ {
		if err := f.WriteStrings(obj, fmt.Sprintf("%s%d", name, k), vals[k*per:min(len(vals), (k+1)*per)]); err != nil {
			return err
		}
	}
	return nil
}

// WriteH5 writes clf as a Keras 2 full-model HDF5 file (model.save's
// layout, which keras.models.load_model reads): root attributes
// keras_version, backend, model_config (the functional graph as JSON) and
// trashsort (Info as JSON); group model_weights with layer_names,
// and per layer weight_names and datasets <layer>/<layer>/<weight>:0. There
// is no training_config: Keras loads the model uncompiled. The file is
// written atomically.
func WriteH5(path string, clf *classifier.Classifier, o Options) error {
	e, err := build(clf, o)
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(e.config)
	if err != nil {
		return fmt.Errorf("keras: model_config: %w", err)
	}
	meta, err := json.Marshal(info(clf, e))
	if err != nil {
		return fmt.Errorf("keras: metadata: %w", err)
	}
	scratch, err := os.CreateTemp("", "trashsort-keras-*.h5")
	if err != nil {
		return err
	}
	tmp := scratch.Name()
	scratch.Close()
	defer os.Remove(tmp)
	f, err := h5.Create(tmp)
	if err != nil {
		return err
	}
	werr := writeH5(f, e, string(cfg), string(meta))
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("keras: %s: %w", path, err)
	}
	src, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer src.Close()
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}

func writeH5(f *h5.File, e *export, cfg, meta string) error {
	for _, a := range [][2]string{{"keras_version", KerasVersion}, {"backend", Backend}, {"model_config", cfg}, {"trashsort", meta}} {
		if err := f.WriteString("/", a[0], a[1]); err != nil {
			return err
		}
	}
	const root = "model_weights"
	if err := writeStrings(f, root, "layer_names", e.layers); err != nil {
		return err
	}
	for _, a := range [][2]string{{"backend", Backend}, {"keras_version", KerasVersion}} {
		if err := f.WriteString(root, a[0], a[1]); err != nil {
			return err
		}
	}
	for _, name := range e.layers {
		ws := e.weights[name]
		var names []string
		for _, w := range ws {
			names = append(names, w.name)
		}
		if err := writeStrings(f, root+"/"+name, "weight_names", names); err != nil {
			return err
		}
		for _, w := range ws {
			p := root + "/" + name + "/" + w.name
			var err error
			if w.int64 {
				err = f.WriteInt64(p, w.shape, w.data)
			} else {
				err = f.WriteFloat32(p, w.shape, w.data)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

var hdf5Signature = []byte("\x89HDF\r\n\x1a\n")

func init() {
	classifier.RegisterFormat(classifier.Format{
		Name:  "keras-h5",
		Match: func(path string, head []byte) bool { return bytes.HasPrefix(head, hdf5Signature) },
		Load:  LoadH5,
	})
}

// LoadH5 reads a model that WriteH5 wrote back as a classifier: the model
// from the trashsort attribute's metadata, the weights from model_weights
// by layer name (models.LoadKerasWeights), the folded temperature taken
// back out of the last Dense layer.
func LoadH5(path string) (*classifier.Classifier, error) {
	f, err := h5.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := f.Strings("/", "trashsort")
	f.Close()
	if err != nil || len(s) != 1 {
		what := "a Keras .h5 file"
		if err != nil && !errors.Is(err, h5.ErrNoAttr) {
			what = "an HDF5 file"
		}
		return nil, fmt.Errorf("%s: %s without trashsort's metadata (the \"trashsort\" attribute that trashsort export --format keras-h5 writes); a Keras weight file is a backbone's --weights, not a --model", path, what)
	}
	var in Info
	if err := json.Unmarshal([]byte(s[0]), &in); err != nil {
		return nil, fmt.Errorf("%s: corrupt trashsort metadata: %w", path, err)
	}
	if in.Format != InfoFormat {
		return nil, fmt.Errorf("%s: trashsort metadata format %q, want %q", path, in.Format, InfoFormat)
	}
	return fromInfo(in, path, func(clf *classifier.Classifier) error {
		return models.LoadKerasWeights(clf.Model, path)
	})
}

// fromInfo builds the classifier in's metadata describes and fills its
// weights with load.
func fromInfo(in Info, path string, load func(*classifier.Classifier) error) (*classifier.Classifier, error) {
	clf, err := classifier.New(in.Meta, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := load(clf); err != nil {
		return nil, err
	}
	if in.TemperatureInModel {
		t := in.Temperature
		if !(t > 0) || t > 1e6 {
			return nil, fmt.Errorf("%s: folded temperature %g: want a positive value", path, t)
		}
		for _, p := range clf.Model.Layers[clf.Model.Output].Params() {
			for i, v := range p.Value.Data {
				p.Value.Data[i] = float32(float64(v) * t)
			}
			p.Touch()
		}
	}
	if in.Meta.Int8 != nil {
		if err := clf.Model.SetInt8Ranges(in.Meta.Int8); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if e := in.Meta.Int8MaxErr; e < 0 || e > 1 || e != e {
		return nil, fmt.Errorf("%s: int8 error bound %g: want a value in (0, 1]", path, e)
	}
	clf.Model.Int8MaxErr = in.Meta.Int8MaxErr
	return clf, nil
}

// isModelJSON is a TensorFlow.js model.json by name.
func isModelJSON(path string) bool { return strings.EqualFold(filepath.Base(path), "model.json") }
