// Package batch classifies many image files the way `trashsort predict`
// does, in pieces that can run anywhere: a Predictor turns a batch of named
// file contents into one Record per file (a bad file is that file's error,
// never the batch's), and Shard splits a list of names into N disjoint parts
// by a rule that depends on the name alone, so that N independent workers
// (an Indexed Job, a Beam pipeline's writers) agree on who does what.
//
// The distributed engines themselves (Apache Beam) live in a separate Go
// module, beam/, so that this module and its command do not depend on them.
package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"trashsort/classifier"
	"trashsort/data"
	"trashsort/evaluate"
	"trashsort/tensor"
)

// Options say how a Predictor answers; the zero value answers as
// `trashsort predict` does by default except for Top (0 means 3).
type Options struct {
	// TTA averages each image's probabilities with its horizontal flip's.
	TTA bool
	// MinConfidence is the "unsure" threshold option of
	// classifier.Threshold: 0 the model's own, -1 never unsure.
	MinConfidence float64
	// Top is how many classes each record ranks (default 3, at most all).
	Top int
	// MaxPixels bounds a decoded image (default data.MaxPixels).
	MaxPixels int
	// MaxFileBytes bounds a file (default data.MaxFileBytes).
	MaxFileBytes int64
}

// Input is one file to classify: its name (as it is to be reported) and
// its contents, or the error that reading it gave.
type Input struct {
	Name string
	Data []byte
	Err  error
}

// Ranked is one class of a record's top list.
type Ranked struct {
	Label       string  `json:"label"`
	Probability float32 `json:"probability"`
}

// Record is the answer for one file. Its JSON form is the line `trashsort
// predict --format json` prints for the file (the same keys, in the same
// order, with the same number formatting), or, when the file could not be
// classified, {"error": ..., "file": ...}.
type Record struct {
	File string `json:"file"`
	// Error says why the file has no answer; empty when it has one.
	Error string `json:"error,omitempty"`
	// Label is the answer: a class, classifier.Unsure or classifier.Unknown.
	Label string `json:"label"`
	// Guess is the most probable class, whatever Label says.
	Guess string `json:"guess"`
	// Confidence is Guess's calibrated probability.
	Confidence float32 `json:"confidence"`
	Unsure     bool    `json:"unsure"`
	Unknown    bool    `json:"unknown"`
	Top        []Ranked
	// Probabilities are the calibrated probabilities by class.
	Probabilities map[string]float64
}

// predictJSON is a successful Record as predict prints it: the keys sorted,
// as encoding/json sorts a map's.
type predictJSON struct {
	Confidence    float32            `json:"confidence"`
	File          string             `json:"file"`
	Guess         string             `json:"guess"`
	Label         string             `json:"label"`
	Probabilities map[string]float64 `json:"probabilities"`
	Top           []Ranked           `json:"top"`
	Unknown       bool               `json:"unknown"`
	Unsure        bool               `json:"unsure"`
}

// MarshalJSON writes the record as predict's JSON line (or the error form).
func (r Record) MarshalJSON() ([]byte, error) {
	if r.Error != "" {
		return json.Marshal(struct {
			Error string `json:"error"`
			File  string `json:"file"`
		}{r.Error, r.File})
	}
	return json.Marshal(predictJSON{r.Confidence, r.File, r.Guess, r.Label, r.Probabilities, r.Top, r.Unknown, r.Unsure})
}

// UnmarshalJSON reads either form MarshalJSON writes.
func (r *Record) UnmarshalJSON(b []byte) error {
	var v struct {
		predictJSON
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p := v.predictJSON
	*r = Record{File: p.File, Error: v.Error, Label: p.Label, Guess: p.Guess, Confidence: p.Confidence,
		Unsure: p.Unsure, Unknown: p.Unknown, Top: p.Top, Probabilities: p.Probabilities}
	return nil
}

// Predictor classifies batches of files with one model. It is not safe for
// concurrent use: give each worker its own.
type Predictor struct {
	clf       *classifier.Classifier
	o         Options
	threshold float64
}

// NewPredictor returns a Predictor answering with clf.
func NewPredictor(clf *classifier.Classifier, o Options) (*Predictor, error) {
	if clf == nil {
		return nil, errors.New("batch: no model")
	}
	if o.Top <= 0 {
		o.Top = 3
	}
	o.Top = min(o.Top, len(clf.Meta.Classes))
	if o.MaxPixels <= 0 {
		o.MaxPixels = data.MaxPixels
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = data.MaxFileBytes
	}
	return &Predictor{clf: clf, o: o, threshold: clf.Threshold(o.MinConfidence)}, nil
}

// Predict classifies the inputs in one forward pass and returns one record
// per input, in order. A file that cannot be read or decoded is its record's
// error; the returned error is only ctx's.
func (p *Predictor) Predict(ctx context.Context, in []Input) ([]Record, error) {
	out := make([]Record, len(in))
	sizes := p.clf.InputSizes()
	xs := make([][]float32, len(sizes))
	var ok []int
	for i, f := range in {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i].File = f.Name
		views, err := p.decode(ctx, f, sizes)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		for k, v := range views {
			xs[k] = v.AppendFloats(xs[k])
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return out, nil
	}
	views := classifier.Views{}
	for k, s := range sizes {
		views[s] = &tensor.Tensor{Shape: []int{len(ok), s, s, 3}, Data: xs[k]}
	}
	k := len(p.clf.Meta.Classes)
	var probs, feats []float32
	dim := 0
	var err error
	if p.clf.HasOpenSet() {
		var o *classifier.Outputs
		if o, err = evaluate.PredictOutputs(p.clf, views, p.o.TTA); err == nil {
			probs, feats, dim = o.Probs.Data, o.Features.Data, o.Features.Shape[1]
		}
	} else {
		var t *tensor.Tensor
		if t, err = evaluate.Predict(p.clf, views, p.o.TTA); err == nil {
			probs = t.Data
		}
	}
	for j, i := range ok {
		if err != nil {
			out[i].Error = fmt.Sprintf("%s: %v", in[i].Name, err)
			continue
		}
		var f []float32
		if feats != nil {
			f = feats[j*dim : (j+1)*dim]
		}
		p.fill(&out[i], probs[j*k:(j+1)*k], f)
	}
	return out, nil
}

// decode reads one input at every size the model reads, within the limits.
func (p *Predictor) decode(ctx context.Context, f Input, sizes []int) ([]*data.RGB, error) {
	switch {
	case f.Err != nil:
		return nil, fmt.Errorf("%s: %w", f.Name, f.Err)
	case len(f.Data) == 0:
		return nil, fmt.Errorf("%s: empty file", f.Name)
	case int64(len(f.Data)) > p.o.MaxFileBytes:
		return nil, fmt.Errorf("%s: %d bytes exceeds the %d-byte limit", f.Name, len(f.Data), p.o.MaxFileBytes)
	}
	views, err := data.DecodeResizedSizes(ctx, f.Data, p.o.MaxPixels, sizes, p.clf.Meta.Resize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return views, nil
}

// fill sets a record's answer from one image's calibrated probabilities
// (and pooled features, for a model with an open-set detector).
func (p *Predictor) fill(r *Record, probs, features []float32) {
	classes := p.clf.Meta.Classes
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	r.Label, _ = p.clf.LabelOpen(probs, features, p.threshold)
	r.Unsure, r.Unknown = r.Label == classifier.Unsure, r.Label == classifier.Unknown
	r.Guess, r.Confidence = classes[idx[0]], probs[idx[0]]
	r.Probabilities = make(map[string]float64, len(classes))
	for i, c := range classes {
		r.Probabilities[c] = float64(probs[i])
	}
	for _, i := range idx[:p.o.Top] {
		r.Top = append(r.Top, Ranked{classes[i], probs[i]})
	}
}
