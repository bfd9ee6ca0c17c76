// Package classifier is a trained image classifier: an ImageNet backbone
// from the model zoo with a new head, its classes and input preprocessing,
// saved to and loaded from one safetensors file that Python's safetensors
// can also open.
package classifier

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"trashsort/openset"

	"trashsort/atomicfile"
	"trashsort/calibrate"
	"trashsort/models"
	"trashsort/nn"
	"trashsort/safetensors"
	"trashsort/tensor"
)

// FormatVersion identifies the model file layout.
const FormatVersion = "trashsort/1"

// Head is the classifier put on top of the backbone: GlobalAveragePooling2D,
// Dense(Units, relu), optional Dropout, Dense(classes, softmax).
type Head struct {
	Units   int     `json:"units"`
	Dropout float64 `json:"dropout"`
}

// Summary records how the model was trained.
type Summary struct {
	ValAccuracy float64 `json:"val_accuracy"`
	ValLoss     float64 `json:"val_loss"`
	BestEpoch   int     `json:"best_epoch"`
	Epochs      int     `json:"epochs"`
	Seed        uint64  `json:"seed"`
	Date        string  `json:"date"`
	TrainImages int     `json:"train_images"`
	ValImages   int     `json:"val_images"`
	Recipe      string  `json:"recipe"`
}

// Meta is everything about the model except its weights.
type Meta struct {
	Backbone string   `json:"backbone"`
	Alpha    float64  `json:"alpha,omitempty"`
	Size     int      `json:"input_size"`
	Classes  []string `json:"classes"`
	// Preprocess is the backbone's own input scaling (see
	// models.Preprocessing) or Rescale (x * Rescale, the seed recipe's
	// rescale=1/255). An unknown mode is an error.
	Preprocess models.Preprocessing `json:"preprocessing"`
	Rescale    float64              `json:"rescale,omitempty"`
	// Resize is the filter that scales images to Size ("bilinear" or "nearest").
	Resize  string  `json:"resize,omitempty"`
	Head    Head    `json:"head"`
	Summary Summary `json:"summary"`
	// Calibration is the temperature and "unsure" threshold fitted on the
	// validation split (nil: uncalibrated, never unsure).
	Calibration *calibrate.Calibration `json:"calibration,omitempty"`
	// Int8 holds the input ranges of the backbone's convolutions by layer
	// name, calibrated on training images, for 8-bit inference (nil: not
	// calibrated; see CalibrateInt8).
	Int8 map[string]nn.Int8Range `json:"int8,omitempty"`
	// Int8MaxErr is the error bound --int8 uses by default (see
	// nn.Model.Int8MaxErr): the largest that kept int8 predictions in
	// agreement with float32 when the model was quantized (see
	// ChooseInt8MaxErr); 0: nn.DefaultInt8MaxErr.
	Int8MaxErr float32 `json:"int8_max_err,omitempty"`
	// TestSizes are the input sizes at which predictions are made and
	// averaged (multi-scale testing; timm's test_input_size when it holds
	// one size); empty means Size alone. The same weights run at every
	// size, since the backbones are fully convolutional.
	TestSizes []int `json:"test_sizes,omitempty"`
	// Adapted records each adaptation to a site since training (see
	// package adapt), oldest first.
	Adapted []Adaptation `json:"adapted,omitempty"`
	// OpenSet is the "none of my classes" detector (nil: none).
	OpenSet *OpenSet `json:"open_set,omitempty"`
	// SourceFeatures describes the stored statistics of the training
	// images' pooled features (nil: none stored).
	SourceFeatures *SourceFeatures `json:"source_features,omitempty"`
}

// Adaptation is one unsupervised adaptation of a model to a site.
type Adaptation struct {
	// Method is "adabn" (BatchNorm statistics re-estimated on the photos),
	// "tent" (and their shifts learned) or "align" (the head's input
	// aligned to the training images' feature statistics).
	Method string `json:"method"`
	Photos int    `json:"photos"`
	// Source is the base name of the photos' folder.
	Source string `json:"source"`
	Date   string `json:"date"`
}

// Rescale is the preprocessing that multiplies pixels by Meta.Rescale
// instead of the backbone's own scaling.
const Rescale models.Preprocessing = "rescale"

// checkPreprocess accepts the backbone modes (models.Preprocessing) and
// Rescale with a positive, finite factor.
func checkPreprocess(meta Meta) error {
	if meta.Preprocess == Rescale {
		if r := meta.Rescale; !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("classifier: preprocessing %q needs a positive, finite rescale factor, got %g", Rescale, r)
		}
		return nil
	}
	if err := meta.Preprocess.Validate(); err != nil {
		return fmt.Errorf("classifier: %w", err)
	}
	return nil
}

// Classifier is a backbone plus head with its metadata.
type Classifier struct {
	Meta  Meta
	Model *nn.Model
	// BaseEnd is the index of the backbone's last layer; the head follows it.
	BaseEnd int
	// members are the other models of an ensemble (see LoadEnsemble).
	members []*Classifier
	// scaled holds the model rebuilt at each other test size (see TestSizes).
	scaled scaledModels
	// gauss is the open-set detector's class Gaussians (see OpenSet).
	gauss *openset.Gaussian
	// srcMean and srcStd are the source feature statistics (see
	// SourceFeatures).
	srcMean, srcStd []float32
}

// New builds the model described by meta with freshly initialized head
// weights (seed) and uninitialized backbone weights.
func New(meta Meta, seed uint64) (*Classifier, error) {
	spec, meta, err := meta.complete()
	if err != nil {
		return nil, err
	}
	m, err := build(spec, meta, meta.Size)
	if err != nil {
		return nil, err
	}
	m.InitWeights(seed)
	c := &Classifier{Meta: meta, Model: m, BaseEnd: m.Index("global_average_pooling2d") - 1}
	return c, nil
}

// build makes the graph of backbone plus head for input size x size.
func build(spec models.Spec, meta Meta, size int) (*nn.Model, error) {
	g, x, err := spec.Graph(models.Options{Size: size, Alpha: meta.Alpha})
	if err != nil {
		return nil, err
	}
	x = g.Apply(nn.NewGlobalAveragePooling2D("global_average_pooling2d"), x)
	x = g.Apply(nn.NewDense("dense", meta.Head.Units, "relu"), x)
	if meta.Head.Dropout > 0 {
		x = g.Apply(nn.NewDropout("dropout", float32(meta.Head.Dropout)), x)
	}
	x = g.Apply(nn.NewDense("dense_1", len(meta.Classes), "softmax"), x)
	return g.Build(x)
}

// Preprocess maps raw pixel values in [0, 255] to the model's input range, in place.
func (c *Classifier) Preprocess(x []float32) {
	if c.Meta.Preprocess == Rescale {
		s := float32(c.Meta.Rescale)
		for i := range x {
			x[i] *= s
		}
		return
	}
	c.Meta.Preprocess.Apply(x)
}

// Predict returns calibrated class probabilities [N, classes] for raw
// images [N, Size, Size, 3] with values in [0, 255]; x is not modified.
func (c *Classifier) Predict(x *tensor.Tensor) (*tensor.Tensor, error) {
	p, err := c.PredictRaw(x)
	if err != nil {
		return nil, err
	}
	c.Calibrate(p.Data)
	return p, nil
}

// Tensors returns every weight of the model named "<layer>/<weight>".
func Tensors(m *nn.Model) map[string]Tensor {
	out := map[string]Tensor{}
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			out[l.Base().Name()+"/"+p.Name] = Tensor{Shape: p.Value.Shape, Data: p.Value.Data}
		}
	}
	return out
}

// SetTensors copies named weights into the model; every weight of the model
// must be present with its shape.
func SetTensors(m *nn.Model, ts map[string]Tensor, source string) error {
	used := 0
	for _, l := range m.Layers {
		for _, p := range l.Params() {
			name := l.Base().Name() + "/" + p.Name
			t, ok := ts[name]
			if !ok {
				return fmt.Errorf("%s: no weight %q", source, name)
			}
			if !tensor.SameShape(t.Shape, p.Value.Shape) {
				return fmt.Errorf("%s: weight %q: expected shape %v, found %v", source, name, p.Value.Shape, t.Shape)
			}
			copy(p.Value.Data, t.Data)
			p.Touch()
			used++
		}
	}
	if used != len(ts) {
		return fmt.Errorf("%s: holds %d weights, the model has %d", source, len(ts), used)
	}
	return nil
}

// Metadata is the safetensors __metadata__ for meta: the whole Meta as
// JSON under "trashsort", plus flat keys for other tools.
func Metadata(meta Meta) (map[string]string, error) {
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"format":        FormatVersion,
		"trashsort":     string(b),
		"backbone":      meta.Backbone,
		"classes":       strings.Join(meta.Classes, ","),
		"input_size":    strconv.Itoa(meta.Size),
		"preprocessing": string(meta.Preprocess),
		"val_accuracy":  strconv.FormatFloat(meta.Summary.ValAccuracy, 'f', 4, 64),
	}, nil
}

// Save writes the classifier to path atomically.
func (c *Classifier) Save(path string) error {
	meta, err := Metadata(c.Meta)
	if err != nil {
		return err
	}
	ts := Tensors(c.Model)
	for name, t := range c.openSetTensors() {
		ts[name] = t
	}
	for name, t := range c.sourceFeatureTensors() {
		ts[name] = t
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		return safetensors.Write(w, ts, meta)
	})
}

// ParseMeta reads the classifier metadata from a file's __metadata__.
func ParseMeta(meta map[string]string, source string) (Meta, error) {
	var m Meta
	if meta["format"] != FormatVersion {
		return m, fmt.Errorf("%s: not a trashsort model file (format %q, want %q)", source, meta["format"], FormatVersion)
	}
	if err := json.Unmarshal([]byte(meta["trashsort"]), &m); err != nil {
		return m, fmt.Errorf("%s: corrupt model metadata: %w", source, err)
	}
	return m, nil
}

// complete fills in meta's defaults from its backbone and validates it.
func (meta Meta) complete() (models.Spec, Meta, error) {
	spec, err := models.Get(meta.Backbone)
	if err != nil {
		return spec, meta, err
	}
	if len(meta.Classes) < 2 {
		return spec, meta, fmt.Errorf("classifier: need at least 2 classes, got %d", len(meta.Classes))
	}
	if meta.Head.Units == 0 {
		meta.Head.Units = 1024
	}
	if meta.Preprocess == "" {
		meta.Preprocess = spec.Preprocess
	}
	if meta.Size == 0 {
		meta.Size = spec.DefaultSize
	}
	if meta.Alpha == 0 {
		meta.Alpha = spec.Alpha
	}
	return spec, meta, meta.validate()
}

// Load reads a classifier saved by Save, or a file in a registered Format
// (see RegisterFormat). The metadata is bounded and every
// weight's shape checked against the model before weight data is read.
func Load(path string) (*Classifier, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a model file (a .safetensors file written by train)", path)
	}
	if f := formatOf(path); f != nil {
		return f.Load(path)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta, err := ParseMeta(f.Meta, path)
	if err != nil {
		return nil, err
	}
	if _, full, err := meta.complete(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	} else if err := checkHead(full, f, path); err != nil {
		return nil, err
	}
	c, err := New(meta, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var extra []string
	if meta.OpenSet != nil {
		extra = append(extra, openSetMeans, openSetPrecision)
	}
	if meta.SourceFeatures != nil {
		extra = append(extra, sourceFeaturesMean, sourceFeaturesStd)
	}
	if err := loadWeights(c.Model, f, path, extra); err != nil {
		return nil, err
	}
	if err := c.loadOpenSet(f, path); err != nil {
		return nil, err
	}
	if err := c.loadSourceFeatures(f, path); err != nil {
		return nil, err
	}
	if meta.Int8 != nil {
		if err := c.Model.SetInt8Ranges(meta.Int8); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if e := meta.Int8MaxErr; e < 0 || e > 1 || e != e {
		return nil, fmt.Errorf("%s: int8 error bound %g: want a value in (0, 1]", path, e)
	}
	c.Model.Int8MaxErr = meta.Int8MaxErr
	return c, nil
}

// CalibrateInt8 widens the recorded int8 input ranges with a batch of raw
// images [N, Size, Size, 3] in [0, 255] (training images; x is
// preprocessed in place) and stores them in Meta.Int8.
func (c *Classifier) CalibrateInt8(x *tensor.Tensor) error {
	c.Preprocess(x.Data)
	if err := c.Model.CalibrateInt8(x); err != nil {
		return err
	}
	c.Meta.Int8 = c.Model.Int8Ranges()
	return nil
}

// TuneInt8 chooses, after CalibrateInt8, how much of each convolution's
// range the 8-bit steps cover, by the error against float32 on x (raw
// images [N, Size, Size, 3] in [0, 255], e.g. one batch of the calibration
// images; x is preprocessed in place), and stores the result in Meta.Int8.
func (c *Classifier) TuneInt8(x *tensor.Tensor) error {
	c.Preprocess(x.Data)
	if err := c.Model.TuneInt8(x); err != nil {
		return err
	}
	c.Meta.Int8 = c.Model.Int8Ranges()
	return nil
}

// UseInt8 turns on 8-bit inference for the calibrated convolutions; it
// fails when the model holds no calibration.
func (c *Classifier) UseInt8() error {
	if len(c.Meta.Int8) == 0 {
		return fmt.Errorf("classifier: the model has no int8 calibration (run trashsort quantize on its training images)")
	}
	for _, m := range c.members {
		if len(m.Meta.Int8) == 0 {
			return fmt.Errorf("classifier: an ensemble member (%s, trained %s) has no int8 calibration (run trashsort quantize on its training images)", m.Meta.Backbone, m.Meta.Summary.Date)
		}
	}
	return c.each(func(m *Classifier) error { m.Model.Int8 = true; return nil })
}

// ISA names the instruction set the engine dispatches to on this CPU.
func ISA() string { return nn.ISA() }

// HasInt8 reports whether the engine has 8-bit convolution kernels for
// this CPU; without them an int8 model runs in float32.
func HasInt8() bool { return nn.HasInt8() }
